use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sesame::{app, demo, settings};

/// mimalloc instead of glibc malloc: the data path allocates and frees many small buffers per
/// request (headers, JSON bodies); glibc's malloc/free showed up as ~8% of the proxy's CPU in
/// the load profile (benches/README.md, "Profile").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sesame: a gateway for delegated API keys in front of a carrier's web services.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration files, in order (later files override earlier ones). Environment variables
    /// `SESAME__SECTION__KEY` override both.
    #[arg(long = "config", short = 'c', global = true)]
    config: Vec<PathBuf>,
    /// Threads serving requests (default: one per CPU). 1 runs everything on one thread with
    /// tokio's current-thread scheduler, which is cheaper per request than a one-worker pool:
    /// for a node pinned to one CPU, and for scaling out with one process per CPU.
    #[arg(long, global = true, env = "SESAME_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    worker_threads: Option<u16>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway (public + ops listeners) and the admin API.
    Serve {
        /// Which listeners this node runs: every part, only the data path, or only the admin API.
        #[arg(long, value_enum, default_value_t = app::Role::All)]
        role: app::Role,
    },
    /// One-command demo: simulator, gateway and admin API on a fresh SQLite database, seeded,
    /// with working curl commands printed.
    Demo,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Run the upstream simulator alone.
    Simulator,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let files = if cli.config.is_empty() {
        app::default_config_files(matches!(cli.command, Command::Demo))
    } else {
        cli.config
    };
    let settings = match settings::load(&files, std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = match cli.worker_threads {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(n))
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let res = rt.block_on(async move {
        match cli.command {
            Command::Serve { role } => app::serve(settings, role, app::shutdown_signal()).await,
            Command::Demo => {
                demo::run(settings, app::shutdown_signal(), &mut std::io::stdout()).await
            }
            Command::Migrate => app::migrate(settings).await,
            Command::Simulator => app::simulator(settings, app::shutdown_signal()).await,
        }
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sesame: {e}");
            ExitCode::FAILURE
        }
    }
}
