//! Installing what the build needs, idempotently: the Wasm target, Python packages.

use std::process::Command;

use anyhow::Result;

use crate::run_command;

pub fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output()?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|line| line.trim() == "wasm32-wasip2") {
        return Ok(());
    }
    eprintln!("installing the wasm32-wasip2 target");
    run_command(Command::new("rustup").args(["target", "add", "wasm32-wasip2"]))
}

pub fn ensure_python_packages(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| {
            let module = package.replace('-', "_");
            !Command::new("python3").args(["-c", &format!("import {module}")]).output().is_ok_and(|out| out.status.success())
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing Python packages: {}", missing.join(" "));
    run_command(Command::new("python3").args(["-m", "pip", "install", "--quiet"]).args(&missing))
}

/// Installs Debian packages for the commands that are missing (the clients the end-to-end
/// tests drive: rclone, s3cmd). Refreshes the package lists only when a first try fails.
pub fn ensure_apt_packages(commands_and_packages: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = commands_and_packages
        .iter()
        .filter(|(command, _)| {
            !Command::new("sh").args(["-c", &format!("command -v {command}")]).output().is_ok_and(|out| out.status.success())
        })
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing Debian packages: {}", missing.join(" "));
    let install = |missing: &[&str]| {
        Command::new("apt-get").args(["install", "-y", "-q"]).args(missing).env("DEBIAN_FRONTEND", "noninteractive").status()
    };
    if install(&missing).is_ok_and(|status| status.success()) {
        return Ok(());
    }
    run_command(Command::new("apt-get").args(["update", "-q"]))?;
    run_command(Command::new("apt-get").args(["install", "-y", "-q"]).args(&missing).env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Installs a cargo-installable tool at an exact version unless that version is on PATH
/// already (`cargo install` is slow: minutes, once per machine).
pub fn ensure_cargo_tool(binary: &str, package: &str, version: &str) -> Result<()> {
    let installed = Command::new(binary).arg("--version").output();
    if installed.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(version)) {
        return Ok(());
    }
    eprintln!("installing {package} {version} (cargo install, once per machine; takes minutes)");
    run_command(crate::cargo().args(["install", "--locked", &format!("{package}@{version}")]))
}
