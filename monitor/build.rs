//! Builds the eBPF object (`monitor-ebpf`) with aya-build; `main.rs` embeds it
//! from `OUT_DIR`.
//!
//! `AYA_BUILD_SKIP=1` gives a host-only build: an empty placeholder object is
//! written and `pxe-monitor` refuses to load it with a clear message. Without
//! the `agent` feature (the fuzz targets' build) nothing is built: the
//! library has no kernel part then.

fn main() -> anyhow::Result<()> {
    #[cfg(feature = "agent")]
    ebpf::build()?;
    Ok(())
}

#[cfg(feature = "agent")]
mod ebpf {
    use std::{env, fs, path::PathBuf};

    use anyhow::{Context as _, anyhow};

    const EBPF_PACKAGE: &str = "monitor-ebpf";
    const EBPF_BINARY: &str = "monitor";

    pub fn build() -> anyhow::Result<()> {
        let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR not set")?);
        let skip =
            env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        if skip {
            println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
            fs::write(out_dir.join(EBPF_BINARY), [])?;
            return Ok(());
        }
        if which_bpf_linker().is_none() {
            return Err(anyhow!(
                "bpf-linker is not on PATH: the eBPF programs cannot be built. \
                 Run `cargo xtask setup` (or set AYA_BUILD_SKIP=1 for a host-only build)"
            ));
        }
        let cargo_metadata::Metadata { packages, .. } = cargo_metadata::MetadataCommand::new()
            .no_deps()
            .exec()
            .context("cargo metadata")?;
        let ebpf = packages
            .into_iter()
            .find(|p| p.name.as_str() == EBPF_PACKAGE)
            .ok_or_else(|| anyhow!("package {EBPF_PACKAGE} not found in the workspace"))?;
        let root_dir = ebpf
            .manifest_path
            .parent()
            .ok_or_else(|| anyhow!("{EBPF_PACKAGE} manifest has no parent directory"))?;
        aya_build::build_ebpf(
            [aya_build::Package {
                name: EBPF_PACKAGE,
                root_dir: root_dir.as_str(),
                ..Default::default()
            }],
            aya_build::Toolchain::default(),
        )
    }

    fn which_bpf_linker() -> Option<PathBuf> {
        env::split_paths(&env::var_os("PATH")?)
            .map(|dir| dir.join("bpf-linker"))
            .find(|p| p.is_file())
    }
}
