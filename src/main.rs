//! The `outcry` command line. This file only parses arguments and wires library calls.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use outcry::config::{self, Loaded};
use outcry::fetch::{FetchLimits, FetchOutcome, Fetcher, Validators};
use outcry::{cases, daemon, demo, extract, replay, store};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "outcry",
    version,
    about = "Alerts the PR team when a private complaint goes public"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, global = true, default_value = "outcry.toml")]
    config: PathBuf,
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "OUTCRY_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon until SIGINT or SIGTERM.
    Run,
    /// Validate the configuration and every source file.
    Check,
    /// Work with one source.
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// Import, list and close complaint cases.
    Cases {
        #[command(subcommand)]
        command: CasesCommand,
    },
    /// Run the bundled demo: example feeds served on 127.0.0.1:8089, example cases, alerts
    /// as .eml files in DIR/outbox.
    Demo {
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
    },
    /// Run the detection pipeline offline over an evaluation set; prints JSON lines.
    Replay {
        #[arg(long = "set")]
        set: PathBuf,
    },
}

#[derive(Subcommand)]
enum SourceCommand {
    /// Fetch a source once and print the items it extracts.
    Test { file: PathBuf },
}

#[derive(Subcommand)]
enum CasesCommand {
    /// Insert or update cases from a JSON-lines file.
    Import { file: PathBuf },
    /// List cases.
    List,
    /// Close a case; a closed case never alerts.
    Close { id: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Replay's output is its stdout; its per-item logs would only drown warnings.
    let default_level = match cli.command {
        Command::Replay { .. } => "warn",
        _ => "info",
    };
    init_logging(cli.log_format, default_level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', "; ")
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OUTCRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only help a terminal; in a journal or a log file they are noise.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Check => check(&cli.config),
        Command::Run => {
            let loaded = load(&cli.config)?;
            let shutdown = CancellationToken::new();
            tokio::spawn(wait_for_signal(shutdown.clone()));
            daemon::run(loaded, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { dir } => {
            let shutdown = CancellationToken::new();
            tokio::spawn(wait_for_signal(shutdown.clone()));
            demo::run(&dir, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Source {
            command: SourceCommand::Test { file },
        } => source_test(&cli.config, &file).await,
        Command::Cases { command } => cases_command(&cli.config, command).await,
        Command::Replay { set } => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            replay::replay(&set, &mut out).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load(path: &Path) -> Result<Loaded> {
    config::load(path).map_err(|problems| anyhow!("invalid configuration:\n{problems}"))
}

fn check(path: &Path) -> Result<ExitCode> {
    match config::load(path) {
        Ok(loaded) => {
            println!(
                "{}: ok ({} brands, {} sources, storage {})",
                path.display(),
                loaded.config.brands.len(),
                loaded.sources.len(),
                store::redacted_url(&loaded.storage_url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            for problem in &problems.0 {
                eprintln!("{problem}");
            }
            eprintln!(
                "error: {} problem(s) in the configuration",
                problems.0.len()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn wait_for_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(term) => term,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the daemon");
                let _ = ctrl_c.await;
                shutdown.cancel();
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    shutdown.cancel();
}

async fn source_test(config_path: &Path, file: &Path) -> Result<ExitCode> {
    let source = config::load_source(file).map_err(|p| anyhow!("invalid source file:\n{p}"))?;
    // The operator's fetch limits when there is a readable config; the defaults otherwise.
    let fetch_config = config::load(config_path)
        .map(|l| l.config.fetch)
        .unwrap_or_default();
    let fetcher = Fetcher::new(FetchLimits::from(&fetch_config))?;
    let fetched = match fetcher.fetch(&source.url, &Validators::default()).await? {
        FetchOutcome::Fetched(fetched) => fetched,
        FetchOutcome::NotModified => bail!(
            "{}: server answered 304 to an unconditional request",
            source.url
        ),
    };
    let extraction = extract::extract(
        &source,
        &fetched.bytes,
        fetched.content_type.as_deref(),
        &fetched.final_url,
    )
    .with_context(|| format!("{}: {}", source.name, source.url))?;
    println!(
        "{}: {} items (charset {}{})",
        source.name,
        extraction.items.len(),
        extraction.encoding.name(),
        if extraction.decode_errors {
            ", with undecodable bytes"
        } else {
            ""
        }
    );
    for item in &extraction.items {
        println!("---");
        println!("guid:      {}", item.guid);
        println!("url:       {}", item.url.as_deref().unwrap_or("-"));
        println!("title:     {}", item.title.as_deref().unwrap_or("-"));
        println!("author:    {}", item.author.as_deref().unwrap_or("-"));
        println!(
            "published: {}",
            item.published_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "-".into())
        );
        let e = &item.engagement;
        let show = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "engagement: reposts {} comments {} likes {} views {}",
            show(e.reposts),
            show(e.comments),
            show(e.likes),
            show(e.views)
        );
        let body = item
            .body
            .as_deref()
            .map(outcry::normalize::html_to_text)
            .unwrap_or_default();
        let preview: String = body.chars().take(200).collect();
        println!("body:      {preview}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn cases_command(config_path: &Path, command: CasesCommand) -> Result<ExitCode> {
    let loaded = load(config_path)?;
    let store = store::open(&loaded.storage_url).await?;
    match command {
        CasesCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let report = cases::import(store.as_ref(), &text).await?;
            let brands: Vec<&str> = loaded
                .config
                .brands
                .iter()
                .map(|b| b.name.as_str())
                .collect();
            for (_, case) in cases::parse(&text).0 {
                if !brands.contains(&case.brand.as_str()) {
                    eprintln!(
                        "warning: case {}: brand `{}` is not configured, so it cannot be linked",
                        case.id, case.brand
                    );
                }
            }
            for problem in &report.problems {
                eprintln!("{}: {problem}", file.display());
            }
            println!(
                "imported {} case(s) from {}",
                report.imported,
                file.display()
            );
            if report.problems.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "error: {} line(s) of {} were not imported",
                    report.problems.len(),
                    file.display()
                );
                Ok(ExitCode::FAILURE)
            }
        }
        CasesCommand::List => {
            for case in store.cases(None).await? {
                let summary: String = case.summary.chars().take(40).collect();
                println!(
                    "{}\t{}\t{}\t{}",
                    case.id,
                    case.status.as_str(),
                    case.brand,
                    summary
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        CasesCommand::Close { id } => {
            if store.close_case(&id, chrono::Utc::now()).await? {
                println!("closed {id}");
                Ok(ExitCode::SUCCESS)
            } else {
                bail!("no case with id {id}")
            }
        }
    }
}
