//! The worker Lambda: one SQS page task -> fetch, map, upsert, next task or finish.
//! Its handler arrives with the AWS issue; until then this binary only builds.

fn main() {
    eprintln!("worker: the Lambda handler arrives with the AWS issue");
    std::process::exit(1);
}
