//! Writes pxe-monitor's man pages (clap_mangen) and bash, zsh and fish
//! completions (clap_complete) from the clap definitions in `src/cli.rs`,
//! for the Debian package: `cargo run --release --example gen_docs -- DIR`
//! (`cargo xtask package` runs it) writes `DIR/man/pxe-monitor.1`, one page
//! per subcommand (`pxe-monitor-run.1`, ...), and `DIR/completions/`.
//!
//! An example of the monitor crate, not a part of xtask: xtask cannot depend
//! on this crate (its build.rs builds the eBPF programs, which needs the
//! toolchain `cargo xtask setup` installs), and the generators stay out of
//! the shipped binary.

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};
use clap::CommandFactory as _;
use clap_complete::Shell;
use monitor::cli::Cli;

/// What the top page says beyond the flags: where the packaged service keeps
/// its settings, and the other pages (roff).
const PACKAGE_SECTIONS: &str = r#".SH FILES
.TP
\fI/etc/default/pxe\-monitor\fR
\fBARGS\fR: the flags the service passes to \fBpxe\-monitor run\fR (at least one \fB\-\-interface\fR). Until it names an interface the service does not run: it stops at once with a message saying so.
.TP
\fI/usr/lib/systemd/system/pxe\-monitor.service\fR
The service: user \fIpxe\-monitor\fR, the capabilities CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON only, a read\-only file system and a system\-call filter. Start it with \fBsystemctl enable \-\-now pxe\-monitor\fR once ARGS is set; \fBjournalctl \-u pxe\-monitor\fR shows its log, and each boot's verdict.
.TP
\fI/usr/share/pxe\-monitor/\fR
Prometheus alert rules and an example scrape configuration (\fIprometheus/\fR), a Grafana dashboard and provisioning examples (\fIgrafana/\fR).
.SH SEE ALSO
\fBpxe\-monitor\-run\fR(1), \fBpxe\-monitor\-check\fR(1), \fBpxe\-monitor\-replay\fR(1), \fBsystemd.exec\fR(5)
"#;

fn main() -> Result<()> {
    let out = PathBuf::from(
        std::env::args_os()
            .nth(1)
            .context("usage: gen_docs OUT_DIR")?,
    );
    man_pages(&out.join("man"))?;
    completions(&out.join("completions"))?;
    Ok(())
}

fn man_pages(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        clap_mangen::Man::new(sub.clone())
            .generate_to(dir)
            .with_context(|| format!("writing the man page of {}", sub.get_name()))?;
    }
    let top = dir.join("pxe-monitor.1");
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    page.extend_from_slice(PACKAGE_SECTIONS.as_bytes());
    fs::File::create(&top)
        .and_then(|mut f| f.write_all(&page))
        .with_context(|| format!("writing {}", top.display()))
}

/// Each shell's file under the name its Debian directory expects
/// (bash-completion/completions/NAME, zsh's _NAME, fish's NAME.fish).
fn completions(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (shell, file) in [
        (Shell::Bash, "pxe-monitor"),
        (Shell::Zsh, "_pxe-monitor"),
        (Shell::Fish, "pxe-monitor.fish"),
    ] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "pxe-monitor", &mut script);
        let path = dir.join(file);
        fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
