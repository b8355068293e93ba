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
