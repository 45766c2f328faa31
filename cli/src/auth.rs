//! `dynsync auth login FILE`: the authorization-code sign-in with PKCE (S256) and a
//! `state` check, through a loopback redirect `http://127.0.0.1:PORT/callback`. The
//! refresh token lands in the secret store under the definition's `refresh_token` name.

use std::process::ExitCode;
use std::time::Duration;

use dynsync_domain::definition::AuthMethod;
use dynsync_dynamics::{AuthorizeRequest, Pkce, authorize_url, exchange_code, random_state};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::context::{CommonArgs, Context, Failure, block_on, finish};

/// The port registered as redirect URI in the app registration by default.
pub const DEFAULT_PORT: u16 = 53682;
/// How long to wait for the browser to come back.
const WAIT: Duration = Duration::from_secs(600);

#[derive(Debug, clap::Subcommand)]
pub enum AuthCommand {
    /// Sign in once (authorization code with PKCE) and store the refresh token.
    Login(LoginArgs),
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Loopback port of the redirect URI; the app registration must list
    /// http://127.0.0.1:PORT/callback (0 = any free port).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Print the sign-in URL instead of opening a browser, then wait for the redirect.
    #[arg(long)]
    pub no_browser: bool,
}

pub fn run(command: &AuthCommand) -> ExitCode {
    match command {
        AuthCommand::Login(args) => finish(block_on(login(args))),
    }
}

async fn login(args: &LoginArgs) -> Result<(), Failure> {
    let ctx = Context::load(&args.common)?;
    let auth = &ctx.integration.definition().dynamics.auth;
    if auth.method != AuthMethod::AuthorizationCode {
        return Err(Failure::Input(
            "dynamics.auth.method is client_credentials, which needs no sign-in; `dynsync auth login` is for authorization_code".to_owned(),
        ));
    }
    let secret_name = auth
        .refresh_token
        .as_ref()
        .map(|r| r.secret.clone())
        .unwrap_or_default();
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| {
            Failure::Input(format!(
                "cannot listen on 127.0.0.1:{}: {e}; pick another --port",
                args.port
            ))
        })?;
    let port = listener
        .local_addr()
        .map_err(|e| Failure::Remote(format!("cannot read the loopback address: {e}")))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let (pkce, state) = (Pkce::generate(), random_state());
    let url = authorize_url(
        auth,
        &AuthorizeRequest {
            redirect_uri: &redirect_uri,
            state: &state,
            pkce: &pkce,
        },
    )
    .map_err(|e| ctx.fail(&e))?;

    println!("Sign in to Dynamics 365 with this URL (redirect URI {redirect_uri}):");
    println!("{url}");
    if !args.no_browser && open_browser(&url) {
        println!("A browser window was opened; waiting for the sign-in to finish...");
    } else {
        println!("Waiting for the sign-in to finish...");
    }

    let code = tokio::time::timeout(WAIT, wait_for_code(&listener, &state))
        .await
        .map_err(|_| {
            Failure::Remote(format!(
                "no sign-in arrived within {} minutes; run the command again",
                WAIT.as_secs() / 60
            ))
        })??;
    exchange_code(ctx.client.tokens(), &code, &redirect_uri, &pkce)
        .await
        .map_err(|e| ctx.fail(&e))?;
    println!("Signed in. The refresh token is stored as secret '{secret_name}'.");
    Ok(())
}

/// Best effort: `open` (macOS) or `xdg-open` (Linux desktops).
fn open_browser(url: &str) -> bool {
    ["open", "xdg-open"].iter().any(|program| {
        std::process::Command::new(program)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
    })
}

/// Serves the loopback redirect until a `/callback` arrives; returns its code.
async fn wait_for_code(listener: &TcpListener, state: &str) -> Result<String, Failure> {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let Some(target) = read_target(&mut stream).await else {
            continue;
        };
        let Ok(url) = url::Url::parse(&format!("http://127.0.0.1{target}")) else {
            respond(&mut stream, 400, "Bad request.").await;
            continue;
        };
        if url.path() != "/callback" {
            respond(&mut stream, 404, "Not found.").await;
            continue;
        }
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if param("state").as_deref() != Some(state) {
            respond(
                &mut stream,
                400,
                "The sign-in did not match this request (state). Start again.",
            )
            .await;
            return Err(Failure::Remote(
                "the redirect's state did not match this sign-in (a stale or forged redirect); run the command again".to_owned(),
            ));
        }
        if let Some(error) = param("error") {
            let description = param("error_description").unwrap_or_default();
            let first = description.lines().next().unwrap_or_default().to_owned();
            respond(&mut stream, 400, "The sign-in failed; see the terminal.").await;
            return Err(Failure::Remote(format!(
                "the sign-in failed ({error}): {first}"
            )));
        }
        let Some(code) = param("code") else {
            respond(&mut stream, 400, "The redirect carried no code.").await;
            return Err(Failure::Remote(
                "the redirect carried no authorization code".to_owned(),
            ));
        };
        respond(
            &mut stream,
            200,
            "Signed in to dynsync. You can close this tab.",
        )
        .await;
        return Ok(code);
    }
}

/// The request target of `GET /path?query HTTP/1.1`, read up to the end of the headers.
async fn read_target(stream: &mut TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") && buffer.len() < 64 * 1024 {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(chunk.get(..n)?);
    }
    let text = String::from_utf8_lossy(&buffer);
    let mut parts = text.lines().next()?.split_whitespace();
    (parts.next()? == "GET").then_some(())?;
    parts.next().map(str::to_owned)
}

async fn respond(stream: &mut TcpStream, status: u16, text: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!("<!doctype html><title>dynsync</title><p>{text}</p>");
    let reply = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // The browser may already have gone; nothing to do about it.
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}
