//! The `outcry` command line. This file only parses arguments and wires library calls.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use outcry::config::SourceConfig;
use outcry::config::{self, Loaded};
use outcry::fetch::{FetchLimits, Fetcher, Validators};
use outcry::schedule::{read_source, PollError, SourceRead};
use outcry::store::SourceState;
use outcry::{cases, daemon, demo, replay, store};
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
    /// Show every source's health: ok, failing or blind, with its last success and error.
    Sources,
    /// List the chat and webhook channels: last success, last error, queue depth.
    Channels {
        #[command(subcommand)]
        command: Option<ChannelsCommand>,
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
enum ChannelsCommand {
    /// Send a test message to one channel and print the platform's answer.
    Test { name: String },
}

#[derive(Subcommand)]
enum SourceCommand {
    /// Fetch a source once and print every field of every item it extracts, and which
    /// selectors matched nothing.
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
            demo::run(&dir, shutdown, |sign_in| {
                println!(
                    "outcry demo: pages at {}\nsign in with token {}\n(alerts land in {}/outbox within a minute; Ctrl-C stops)",
                    sign_in.url,
                    sign_in.token,
                    dir.display()
                );
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Source {
            command: SourceCommand::Test { file },
        } => source_test(&cli.config, &file).await,
        Command::Sources => sources(&cli.config).await,
        Command::Channels { command } => channels(&cli.config, command).await,
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
    let read = match read_source(&fetcher, &source, &Validators::default(), None).await {
        Ok(read) => read,
        Err(PollError::Blind { reason, .. }) => {
            bail!("{}: the source is blind: {reason}", source.name)
        }
        // PollError's Display already carries its cause; anyhow's chain would repeat it.
        Err(e) => bail!("{}: {}: {e}", source.name, source.url),
    };
    if read.not_modified {
        bail!(
            "{}: server answered 304 to an unconditional request",
            source.url
        );
    }
    print_read(&source, &read);
    if let Some(reason) = &read.blind {
        bail!("{}: the source is blind: {reason}", source.name);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_read(source: &SourceConfig, read: &SourceRead) {
    println!(
        "{}: {} items from {} page(s)",
        source.name,
        read.items.len(),
        read.pages.len()
    );
    for (i, page) in read.pages.iter().enumerate() {
        println!(
            "page {}: {} ({} items, charset {}{})",
            i + 1,
            page.url,
            page.items,
            page.encoding.name(),
            if page.decode_errors {
                ", with undecodable bytes"
            } else {
                ""
            }
        );
    }
    let show = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    let text = |v: Option<&str>| v.unwrap_or("-").to_string();
    for item in &read.items {
        println!("---");
        println!("guid:      {}", item.guid);
        println!("url:       {}", text(item.url.as_deref()));
        println!("title:     {}", text(item.title.as_deref()));
        println!("author:    {}", text(item.author.as_deref()));
        println!("followers: {}", show(item.author_followers));
        println!(
            "published: {}",
            item.published_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "-".into())
        );
        let e = &item.engagement;
        println!("reposts:   {}", show(e.reposts));
        println!("comments:  {}", show(e.comments));
        println!("likes:     {}", show(e.likes));
        println!("views:     {}", show(e.views));
        let body = item
            .body
            .as_deref()
            .map(outcry::normalize::html_to_text)
            .unwrap_or_else(|| "-".into());
        println!("body:      {body}");
    }
    println!("---");
    // Plainly, per selector: an operator adapting a source to a site's markup needs exactly
    // this.
    if let (Some(selectors), Some(first)) = (&source.selectors, read.pages.first()) {
        let configured = selectors.fields();
        for field in &first.unmatched {
            let selector = configured
                .iter()
                .find(|(name, _)| name == field)
                .and_then(|(_, s)| *s)
                .unwrap_or_default();
            let note = match *field {
                "item" => " (no items: wrong selector, or not the page you expect)",
                "next_page" => " (fine on a last page)",
                _ => "",
            };
            println!("selector {field} = `{selector}` matched nothing{note}");
        }
        if first.unmatched.is_empty() {
            println!("every selector matched");
        }
    }
    if source.kind == config::SourceKind::Feed && !read.items.is_empty() {
        let counted = read.items.iter().any(|i| {
            let e = &i.engagement;
            e.reposts.or(e.comments).or(e.likes).or(e.views).is_some()
        });
        if !counted {
            println!("no item carries engagement counts (an item_page table can read them)");
        }
    }
}

async fn channels(config_path: &Path, command: Option<ChannelsCommand>) -> Result<ExitCode> {
    let loaded = load(config_path)?;
    let ui = outcry::present::Ui::of(&loaded.config);
    if let Some(ChannelsCommand::Test { name }) = command {
        let channel = loaded
            .config
            .channels
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| anyhow::anyhow!("no channel named `{name}` in the configuration"))?;
        let (status, answer) = outcry::alert::chat::send_test(channel, &ui).await?;
        println!("{name}: HTTP {status}: {answer}");
        return Ok(if (200..300).contains(&status) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let store = store::open(&loaded.storage_url).await?;
    let time = |ms: Option<i64>| {
        ms.and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
            .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
            .unwrap_or_else(|| "-".into())
    };
    println!("channel\tkind\tqueued\toldest pending\tsent\tlast success\tlast error");
    for channel in &loaded.config.channels {
        let status = store.channel_status(&channel.name).await?;
        let (error_at, error) = status
            .last_error
            .map(|(at, e)| (Some(at), e))
            .unwrap_or((None, "-".into()));
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{} {}",
            channel.name,
            channel.kind.as_str(),
            status.queued,
            time(status.oldest_pending_ms),
            status.sent,
            time(status.last_success_ms),
            time(error_at),
            error
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn sources(config_path: &Path) -> Result<ExitCode> {
    let loaded = load(config_path)?;
    let store = store::open(&loaded.storage_url).await?;
    let mut stored: std::collections::BTreeMap<String, SourceState> = store
        .source_states()
        .await?
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    let mut states: Vec<(String, Option<SourceState>)> = loaded
        .sources
        .iter()
        .map(|s| (s.name.clone(), stored.remove(&s.name)))
        .collect();
    // State of sources no longer configured is history, but still worth seeing.
    states.extend(
        stored
            .into_iter()
            .map(|(name, state)| (format!("{name} (not configured)"), Some(state))),
    );
    println!("source\thealth\tfailures\titems seen\tlast items\tlast success\tlast poll\tdown since\tlast error");
    for (name, state) in states {
        let Some(state) = state else {
            println!("{name}\tnever polled\t-\t-\t-\t-\t-\t-\t-");
            continue;
        };
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "{name}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            state.health.as_str(),
            state.consecutive_failures,
            state.items_seen,
            state
                .last_items
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            time(state.last_success_at),
            time(state.last_poll_at),
            time(state.failing_since),
            state
                .last_error
                .as_deref()
                .map(|e| e.replace(['\t', '\n'], " "))
                .unwrap_or_else(|| "-".into()),
        );
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
