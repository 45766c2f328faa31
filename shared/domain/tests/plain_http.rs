//! Secrets travel over TLS (ARCHITECTURE.md section 9): every URL a secret or token is sent
//! to (`dynamics.web_api_url`, `dynamics.auth.token_url` and `authorize_url`,
//! `insider.api_url`) may use plain `http://` only for a loopback host (127.0.0.0/8, ::1,
//! localhost), where the emulators and local test servers run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dynsync_domain::Integration;

const HINT: &str = "use https://; plain http is allowed only for loopback hosts";

/// An authorization-code definition with the four URLs given.
fn definition(web_api: &str, token: &str, authorize: &str, insider: &str) -> String {
    format!(
        r#"id: plain-http
method: entity
dynamics:
  web_api_url: {web_api}
  auth:
    method: authorization_code
    token_url: {token}
    authorize_url: {authorize}
    scopes: ["https://contoso.crm4.dynamics.com/user_impersonation", offline_access]
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: {{ secret: dynsync/plain-http/dynamics }}
    refresh_token: {{ secret: dynsync/plain-http/refresh }}
source:
  entity: contact
  fields: [contactid, emailaddress1]
identifiers:
  - {{ type: email, field: emailaddress1 }}
insider:
  api_url: {insider}
  partner: acme
  token: {{ secret: dynsync/insider }}
"#
    )
}

/// The problems of a definition that must be invalid.
fn problems(yaml: &str, what: &str) -> Vec<dynsync_domain::validate::Problem> {
    match Integration::from_yaml(yaml) {
        Ok(_) => panic!("{what} was accepted"),
        Err(problems) => problems.0,
    }
}

fn same_url_everywhere(url: &str) -> String {
    definition(url, url, url, url)
}

#[test]
fn plain_http_to_a_loopback_host_is_valid() {
    for url in [
        "http://127.0.0.1:8080/api",
        "http://127.3.4.5/api",
        "http://[::1]:9000/api",
        "http://localhost:3000/api",
        "http://LOCALHOST/api",
        "https://contoso.crm4.dynamics.com/api/data/v9.2",
    ] {
        if let Err(problems) = Integration::from_yaml(&same_url_everywhere(url)) {
            panic!("{url} is refused: {}", problems.joined("; "));
        }
    }
}

#[test]
fn plain_http_to_any_other_host_is_refused_at_each_path_with_the_hint() {
    for url in [
        "http://contoso.crm4.dynamics.com/api/data/v9.2",
        "http://10.0.0.7/api",
        "http://128.0.0.1/api",
        "http://[::2]/api",
        "http://[::ffff:10.0.0.1]/api",
        "http://localhost.example.com/api",
        "http://127.0.0.1.nip.io/api",
        "http://0.0.0.0/api",
    ] {
        let problems = problems(&same_url_everywhere(url), url);
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "dynamics.web_api_url",
                "dynamics.auth.token_url",
                "dynamics.auth.authorize_url",
                "insider.api_url"
            ],
            "{url}"
        );
        for problem in &problems {
            assert!(problem.message.contains(HINT), "{url}: {problem}");
        }
    }
}

#[test]
fn only_the_url_that_is_plain_http_is_reported() {
    let https = "https://contoso.crm4.dynamics.com/api";
    let plain = "http://contoso.crm4.dynamics.com/api";
    let cases = [
        (
            definition(plain, https, https, https),
            "dynamics.web_api_url",
        ),
        (
            definition(https, plain, https, https),
            "dynamics.auth.token_url",
        ),
        (
            definition(https, https, plain, https),
            "dynamics.auth.authorize_url",
        ),
        (definition(https, https, https, plain), "insider.api_url"),
    ];
    for (yaml, path) in cases {
        let problems = problems(&yaml, path);
        assert_eq!(problems.len(), 1, "{path}: {problems:?}");
        assert_eq!(problems[0].path, path);
        assert_eq!(
            problems[0].message,
            format!("'{plain}' sends secrets in cleartext; {HINT} (127.0.0.0/8, ::1, localhost)")
        );
    }
}
