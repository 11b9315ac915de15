#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sesame::{app, demo, settings};

/// Sesame: a gateway for delegated API keys in front of a carrier's web services.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration files, in order (later files override earlier ones). Environment variables
    /// `SESAME__SECTION__KEY` override both.
    #[arg(long = "config", short = 'c', global = true)]
    config: Vec<PathBuf>,
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
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
