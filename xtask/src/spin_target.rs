//! The static gate for Spin (no Spin runtime can run here): the composed component must import
//! nothing Spin 3.6's `platform` world does not offer, with matching types, and must export the
//! HTTP handler Spin calls. The world is `compose/spin-wit/world.wit` over Spin's own WIT.

use std::fs;

use anyhow::{Context, Result, anyhow, bail};
use wac_types::{ItemKind, Package, Types, WorldId, validate_target};

use crate::root;

const SPIN_WIT: &str = "compose/spin-wit";
const SPIN_WORLD: &str = "http-component";

/// Fails, naming each offending import or export, unless `component_path` targets the world.
pub fn check(component_path: &str) -> Result<()> {
    let mut types = Types::default();
    let world_package = Package::from_bytes("spin-target", None, encode_wit_package()?, &mut types)
        .map_err(|error| anyhow!("loading {SPIN_WIT}: {error:?}"))?;
    let world = world_named(&types, world_package.ty(), SPIN_WORLD)?;
    let component_bytes = fs::read(root().join(component_path)).with_context(|| format!("reading {component_path}"))?;
    let component = Package::from_bytes("component", None, component_bytes, &mut types)
        .map_err(|error| anyhow!("loading {component_path}: {error:?}"))?;
    validate_target(&types, world, component.ty()).map_err(|report| anyhow!("{component_path} does not target Spin: {report}"))?;
    eprintln!("{component_path} targets spin:up/platform@3.6.0 (world {SPIN_WORLD} in {SPIN_WIT})");
    Ok(())
}

/// The WIT package, encoded as a component whose exports are its worlds.
fn encode_wit_package() -> Result<Vec<u8>> {
    let mut resolve = wit_parser::Resolve::new();
    let (package, _sources) = resolve.push_dir(root().join(SPIN_WIT)).map_err(|error| anyhow!("parsing {SPIN_WIT}: {error:?}"))?;
    wit_component::encode(&resolve, package).map_err(|error| anyhow!("encoding {SPIN_WIT}: {error:?}"))
}

/// The component type a world of an encoded WIT package stands for.
fn world_named(types: &Types, package_world: WorldId, name: &str) -> Result<WorldId> {
    let Some(ItemKind::Type(wac_types::Type::World(world))) = types[package_world].exports.get(name) else {
        bail!("{SPIN_WIT} has no world {name}");
    };
    match types[*world].exports.values().next() {
        Some(ItemKind::Component(component)) => Ok(*component),
        _ => bail!("{SPIN_WIT}: world {name} did not encode as a component type"),
    }
}
