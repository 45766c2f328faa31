//! The benchmark's moto server when `AWS_ENDPOINT_URL` is not set: the tools venv's stock
//! `${DYNSYNC_TOOLS:-~/.cache/dynsync-tools}/bin/moto_server` (installed by
//! infra/scripts/test.sh; not the serialised wrapper the tests run, which the benchmark's
//! one worker at a time does not need) on a free loopback port, waited for, and stopped
//! when dropped. The benchmark then runs
//! itself again with the SDK's environment pointing at it (the SDK reads its endpoint and
//! credentials from the environment, which a running process may not change safely).

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running moto server, killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> anyhow::Result<Self> {
        let tools = std::env::var_os("DYNSYNC_TOOLS")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/dynsync-tools"))
            })
            .context("neither DYNSYNC_TOOLS nor HOME is set: cannot find moto_server")?;
        let server = tools.join("bin/moto_server");
        if !server.is_file() {
            bail!(
                "{} is missing: run infra/scripts/test.sh once (it installs moto), or set AWS_ENDPOINT_URL to a running moto",
                server.display()
            );
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", server.display()))?;
        let mut moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Some(status) = moto.child.try_wait()? {
                bail!("moto_server exited before listening: {status}");
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("moto_server did not listen on port {port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    /// The environment the AWS SDK needs to talk to this server.
    pub fn sdk_env(&self) -> [(&'static str, String); 6] {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
