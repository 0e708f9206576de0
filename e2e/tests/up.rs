//! `just up`'s launcher starts, writes its env file and CA, and the tutorial's three tests it
//! prints hold (`--check` makes them and stops). Random ports, a scratch directory.

use std::process::Command;

#[test]
fn fortress_up_passes_the_tutorials_three_tests_and_writes_its_files() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fortress-up");
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_fortress-up"))
        .args([
            "--gateway-port",
            "0",
            "--lb-port",
            "0",
            "--emulator-port",
            "0",
            "--check",
            "--dir",
        ])
        .arg(&dir)
        .output()
        .expect("fortress-up runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "ok   1. back door closed",
        "ok   2. front door without a pass",
        "ok   3. gateway with a Firebase token",
        "curl -i --connect-to ",
        "export FIREBASE_TOKEN=ey",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert!(dir.join("ca.pem").exists(), "the CA file is written");
    assert!(
        !dir.join("stack.env").exists(),
        "the env file is removed when the fortress stops"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(".gitignore"))
            .ok()
            .as_deref(),
        Some("*\n")
    );
}
