//! The dispatcher Lambda: schedule ticks and manual events start executions.
//! Its handler arrives with the AWS issue; until then this binary only builds.

fn main() {
    eprintln!("dispatcher: the Lambda handler arrives with the AWS issue");
    std::process::exit(1);
}
