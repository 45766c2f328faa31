//! Runs the Dataverse + Entra ID emulator by hand: prints its URLs and credentials and
//! serves until Ctrl-C. `--seed demo` (default), `--seed empty` or `--seed contacts:N`.

use clap::Parser;
use dynsync_emulators::dataverse::{CLIENT_ID, CLIENT_SECRET, DataverseEmulator, Seed, TENANT};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(about = "Dataverse Web API + Entra ID emulator for local runs")]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Data to load: `demo`, `empty` or `contacts:N`.
    #[arg(long, default_value = "demo", value_parser = seed)]
    seed: Seed,
}

fn seed(spec: &str) -> Result<Seed, String> {
    match spec {
        "demo" => Ok(Seed::demo()),
        "empty" => Ok(Seed::empty()),
        other => match other.strip_prefix("contacts:").map(str::parse::<usize>) {
            Some(Ok(n)) => Ok(Seed::contacts(n, 42)),
            _ => Err(format!("expected demo, empty or contacts:N, got '{other}'")),
        },
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let emu = DataverseEmulator::start_on(SocketAddr::from(([127, 0, 0, 1], args.port)), args.seed)
        .await?;
    println!("Dataverse emulator");
    println!("  web api:       {}", emu.web_api_url());
    println!("  token url:     {}", emu.token_url());
    println!("  authorize url: {}", emu.authorize_url());
    println!("  scope:         {}", emu.scope());
    println!("  tenant:        {TENANT}");
    println!("  client id:     {CLIENT_ID}");
    println!("  client secret: {CLIENT_SECRET}");
    println!("  contacts:      {}", emu.store().count("contact"));
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    emu.shutdown().await;
    Ok(())
}
