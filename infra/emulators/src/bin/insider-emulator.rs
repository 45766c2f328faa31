//! Runs the Insider upsert API emulator by hand: prints its upsert URL and credentials and
//! serves until Ctrl-C. Inspect with `GET /_emulator/profiles` and `/_emulator/events`.

use std::net::SocketAddr;

use clap::Parser;
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, PARTNER, TOKEN};

#[derive(Parser)]
#[command(about = "Insider Upsert User Data API emulator for local runs")]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Partner name accepted in X-PARTNER-NAME.
    #[arg(long, default_value = PARTNER)]
    partner: String,
    /// Token accepted in X-REQUEST-TOKEN.
    #[arg(long, default_value = TOKEN)]
    token: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let emu = InsiderEmulator::start_on(
        SocketAddr::from(([127, 0, 0, 1], args.port)),
        InsiderConfig {
            partner: args.partner.clone(),
            token: args.token,
        },
    )
    .await?;
    println!("Insider emulator");
    println!("  upsert url:  {}", emu.upsert_url());
    println!("  partner:     {}", args.partner);
    println!(
        "  inspect:     {}/_emulator/profiles, {}/_emulator/events",
        emu.base_url(),
        emu.base_url()
    );
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
