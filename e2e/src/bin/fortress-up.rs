//! `just up`: the same in-process fortress the Gherkin suite attacks, in the foreground on fixed
//! ports, with the tutorial's three curl tests printed ready to paste and a fresh Firebase
//! test-user token. Once every listener accepts it writes `.fortress/stack.env` (so scripts can
//! `source` it) and `.fortress/ca.pem`; Ctrl-C (or SIGTERM) stops everything and removes the env
//! file.
//!
//! Ports (all on 127.0.0.1): the gateway 8080, the load balancer and every Google host over
//! HTTPS 8443, the emulator's plain listener (metadata server, `/_emulator/...`) 8081.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use e2e::stack::{Fortress, Ports, StackConfig, workspace_root};

#[derive(Debug, Parser)]
#[command(
    name = "fortress-up",
    about = "Run the local fortress in the foreground and print the tutorial's curl tests"
)]
struct Args {
    /// The gateway (API Gateway's local stand-in), plain HTTP.
    #[arg(long, default_value_t = 8080)]
    gateway_port: u16,
    /// The load balancer's domain, the run.app hosts and Google's hosts, over HTTPS.
    #[arg(long, default_value_t = 8443)]
    lb_port: u16,
    /// The emulator's plain HTTP listener: metadata server, `/_emulator/...`, host prefixes.
    #[arg(long, default_value_t = 8081)]
    emulator_port: u16,
    /// The Firebase test user whose token is printed.
    #[arg(long, default_value = "alice@example.com")]
    user: String,
    /// Where the env file, the CA certificate and the scratch space go.
    #[arg(long, default_value_os_t = workspace_root().join(".fortress"))]
    dir: PathBuf,
    /// Run the three tests once the fortress is ready, print their results, and stop (exit 1
    /// if any fails) instead of waiting for Ctrl-C.
    #[arg(long)]
    check: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fortress-up: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let dir = args.dir.clone();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // The directory ignores itself: nothing in it belongs in git.
    let _ = std::fs::write(dir.join(".gitignore"), "*\n");
    let env_file = dir.join("stack.env");
    let _ = std::fs::remove_file(&env_file);

    let mut config = StackConfig::from_fixtures().map_err(|e| e.to_string())?;
    config.ports = Ports {
        gateway: args.gateway_port,
        emulator_http: args.emulator_port,
        emulator_https: args.lb_port,
    };
    config.state_dir = Some(dir.clone());
    config.scratch_dir = dir.clone();
    let fortress = Fortress::start(config).await.map_err(|e| e.to_string())?;
    let token = e2e::tokens::firebase_sign_in(&fortress, &args.user).await?;
    let ca_file = fortress
        .in_process_emulator()
        .and_then(|e| e.ca_path.clone())
        .unwrap_or_else(|| dir.join("ca.pem"));

    let env = stack_env(&fortress, &ca_file, &token);
    write_atomically(&env_file, &env)?;
    print!(
        "{}",
        banner(&fortress, &ca_file, &env_file, &args.user, &token)
    );

    let outcome = if args.check {
        check(&fortress, &token).await
    } else {
        cloud_run::shutdown_signal().await;
        Ok(())
    };
    println!("\nstopping the fortress...");
    let _ = std::fs::remove_file(&env_file);
    fortress.shutdown().await;
    println!("stopped");
    outcome
}

/// The three printed tests, made with the fortress's own client (the same URLs, names mapped to
/// the emulator as `--connect-to` does, only the local CA trusted).
async fn check(f: &Fortress, token: &str) -> Result<(), String> {
    let first = f
        .topology
        .services()
        .first()
        .map(|s| s.name().as_str().to_string())
        .unwrap_or_default();
    let prefix = front_page(f, &first);
    let run_app = f.run_app_url(&first).unwrap_or_default();
    let get = |url: String, bearer: Option<&str>| {
        let mut req = f.client.get(url);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        async move {
            let resp = req.send().await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let body = resp.text().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((status, body))
        }
    };
    let (back, _) = get(format!("{run_app}{prefix}"), None).await?;
    let (front, front_body) = get(format!("{}{prefix}", f.load_balancer_url()), None).await?;
    let (gateway, gateway_body) = get(format!("{}{prefix}", f.gateway_url()), Some(token)).await?;
    let results = [
        (
            "1. back door closed (404 or 403)",
            back == 404 || back == 403,
            back,
        ),
        (
            "2. front door without a pass (302, empty token)",
            front == 302 && front_body.contains("Invalid IAP credentials: empty token"),
            front,
        ),
        (
            "3. gateway with a Firebase token (200 JSON)",
            gateway == 200 && serde_json::from_str::<serde_json::Value>(&gateway_body).is_ok(),
            gateway,
        ),
    ];
    let mut failed = 0;
    for (name, ok, status) in results {
        println!("{} {name}: {status}", if ok { "ok  " } else { "FAIL" });
        failed += usize::from(!ok);
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} of the tutorial's three tests failed"))
    }
}

/// The service's own path prefix (`/smoothie`), for the printed tests.
fn front_page(f: &Fortress, service: &str) -> String {
    f.topology
        .service(service)
        .and_then(|s| s.paths().first())
        .map(|p| p.as_str().trim_end_matches("/*").to_string())
        .unwrap_or_else(|| "/".into())
}

fn env_name(service: &str) -> String {
    format!(
        "{}_URL",
        service.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// `curl --connect-to HOST:443:127.0.0.1:PORT`: the URL (and so Host and SNI) stay the real
/// names while the connection goes to the emulator.
fn connect_to(f: &Fortress, url: &str) -> String {
    let host = url
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or_default();
    format!("{host}:443:127.0.0.1:{}", f.emulator_https.port())
}

fn stack_env(f: &Fortress, ca_file: &Path, token: &str) -> String {
    let lb = f.load_balancer_url();
    let mut out = String::from(
        "# Written by `just up` once the fortress was ready; removed when it stops.\n",
    );
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k}={v}\n"));
    line("GATEWAY_URL", &f.gateway_url());
    line("LB_URL", &lb);
    line("LB_CONNECT_TO", &connect_to(f, &lb));
    line("EMULATOR_URL", &f.emulator_url());
    line("CA_FILE", &ca_file.display().to_string());
    line("FIREBASE_TOKEN", token);
    for s in f.topology.services() {
        let name = s.name().as_str();
        if let Some(url) = f.run_app_url(name) {
            line(&env_name(name), &url);
            line(
                &format!("{}_CONNECT_TO", env_name(name).trim_end_matches("_URL")),
                &connect_to(f, &url),
            );
        }
    }
    out
}

fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("env.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

fn banner(f: &Fortress, ca_file: &Path, env_file: &Path, user: &str, token: &str) -> String {
    let ca = ca_file.display();
    let lb = f.load_balancer_url();
    let first = f
        .topology
        .services()
        .first()
        .map(|s| s.name().as_str().to_string())
        .unwrap_or_default();
    let prefix = front_page(f, &first);
    let run_app = f.run_app_url(&first).unwrap_or_default();
    let mut out = format!(
        "\nfortress is up (ready in {:.0} ms)\n\n",
        f.started_in.as_secs_f64() * 1000.0
    );
    out.push_str(&format!("  gateway          {}\n", f.gateway_url()));
    out.push_str(&format!(
        "  load balancer    {lb}  (HTTPS on 127.0.0.1:{})\n",
        f.emulator_https.port()
    ));
    out.push_str(&format!(
        "  emulator         {}  (try /_emulator/topology)\n",
        f.emulator_url()
    ));
    for s in f.topology.services() {
        let name = s.name().as_str();
        out.push_str(&format!(
            "  {name:<16} {}\n",
            f.run_app_url(name).unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "  CA certificate   {ca}\n  env file         {} (source it)\n",
        env_file.display()
    ));
    out.push_str(&format!(
        "\nThe tutorial's three tests, ready to paste:\n\n\
         # 1. The back door (run.app URL) is closed: Google's 404 page (or 403)\n\
         curl -i --connect-to {} --cacert {ca} {run_app}{prefix}\n\n\
         # 2. The front door (load balancer) without a pass: 302, \"Invalid IAP credentials: empty token\"\n\
         curl -i --connect-to {} --cacert {ca} {lb}{prefix}\n\n\
         # 3. The gateway with a Firebase token: 200 and {first}'s JSON\n\
         curl -i -H \"Authorization: Bearer $FIREBASE_TOKEN\" {}{prefix}\n\n",
        connect_to(f, &run_app),
        connect_to(f, &lb),
        f.gateway_url(),
    ));
    out.push_str(&format!(
        "A fresh Firebase ID token for {user} (valid one hour):\n\n\
         export FIREBASE_TOKEN={token}\n\n\
         (or: source {})\n\nCtrl-C stops the fortress.\n",
        env_file.display()
    ));
    out
}
