//! The `dynsync validate` contract, driven through the real binary: one line per problem
//! as `FILE: PATH: MESSAGE`, `FILE: ok` for valid files, exit 0 when all are valid and 2
//! when any is invalid or unreadable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dynsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dynsync"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn valid_examples_print_ok_and_exit_zero() {
    let files = [
        "examples/contacts-client-credentials.yaml",
        "examples/contacts-authorization-code.yaml",
        "examples/marketing-list-client-credentials.yaml",
        "examples/marketing-list-authorization-code.yaml",
        "examples/purchases-with-events.yaml",
        "examples/contacts-changes-with-deletes.yaml",
        "examples/marketing-list-changes.yaml",
    ];
    let mut args = vec!["validate"];
    args.extend(files);
    let output = dynsync(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let expected: Vec<String> = files.iter().map(|f| format!("{f}: ok")).collect();
    assert_eq!(stdout(&output).lines().collect::<Vec<_>>(), expected);
}

#[test]
fn an_invalid_file_prints_file_path_message_lines_and_exits_two() {
    let typo = "tests/fixtures/invalid/attribute-field-typo.yaml";
    let output = dynsync(&[
        "validate",
        "examples/contacts-client-credentials.yaml",
        typo,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stdout(&output),
        format!(
            "examples/contacts-client-credentials.yaml: ok\n{typo}: attributes[2].field: 'gendercod' is not in source.fields; did you mean 'gendercode'?\n"
        )
    );
}

#[test]
fn every_problem_of_a_file_gets_its_own_line() {
    let file = "tests/fixtures/invalid/many-problems-at-once.yaml";
    let output = dynsync(&["validate", file]);
    assert_eq!(output.status.code(), Some(2));
    let paths: Vec<String> = stdout(&output)
        .lines()
        .map(|line| {
            line.strip_prefix(&format!("{file}: "))
                .unwrap()
                .split(": ")
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        paths,
        [
            "id",
            "schedule",
            "identifiers[0].field",
            "attributes[2].field",
            "insider.partner"
        ]
    );
}

#[test]
fn removals_problems_are_one_line_each_with_their_path() {
    let file = "tests/fixtures/invalid/removals-several-problems.yaml";
    let output = dynsync(&["validate", file]);
    assert_eq!(output.status.code(), Some(2));
    let out = stdout(&output);
    let paths: Vec<&str> = out
        .lines()
        .map(|line| {
            line.strip_prefix(&format!("{file}: "))
                .unwrap()
                .split(": ")
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(
        paths,
        [
            "source.list_mode",
            "removals",
            "removals",
            "removals.attribute"
        ],
        "{out}"
    );
    assert!(out.contains("removals: with fetch_mode: all a run cannot see records deleted"));
}

#[test]
fn a_yaml_syntax_error_is_reported_for_the_whole_document_with_its_line() {
    let file = "tests/fixtures/invalid/yaml-syntax-error.yaml";
    let output = dynsync(&["validate", file]);
    assert_eq!(output.status.code(), Some(2));
    let out = stdout(&output);
    assert!(
        out.starts_with(&format!(
            "{file}: (document): YAML syntax error at line 27, column 1"
        )),
        "{out}"
    );
}

#[test]
fn an_unreadable_file_is_invalid_input() {
    let output = dynsync(&["validate", "examples/does-not-exist.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).starts_with("examples/does-not-exist.yaml: (file): cannot read the file")
    );
}

#[test]
fn an_inline_secret_value_never_reaches_the_output() {
    let output = dynsync(&[
        "validate",
        "tests/fixtures/invalid/inline-client-secret.yaml",
        "tests/fixtures/invalid/inline-insider-token.yaml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let all = format!(
        "{}{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !all.contains("abc123") && !all.contains("5f2c9e7a1b"),
        "{all}"
    );
    assert!(all.contains("dynamics.auth.client_secret: must be a secret reference"));
}

#[test]
fn validate_without_files_is_a_usage_error() {
    let output = dynsync(&["validate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty());
}

#[test]
fn help_explains_the_output_and_the_exit_status() {
    let output = dynsync(&["validate", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = stdout(&output);
    assert!(
        help.contains("FILE: PATH: MESSAGE") && help.contains("Exit status"),
        "{help}"
    );
    let top = stdout(&dynsync(&["--help"]));
    assert!(top.contains("validate") && top.contains("schema"), "{top}");
}
