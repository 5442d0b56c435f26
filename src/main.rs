//! The `outcry` command line. This file only parses arguments and wires library calls.

use anyhow::{anyhow, bail, Context, Result};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use outcry::config::SourceConfig;
use outcry::config::{self, Loaded};
use outcry::fetch::{FetchLimits, Fetcher, Validators};
use outcry::model::{Case, CaseStatus, Stage};
use outcry::schedule::{read_source, PollError, SourceRead};
use outcry::store::SourceState;
use outcry::{cases, daemon, demo, replay, store};
use std::io::{IsTerminal, Write};
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
    /// Work on the store itself.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
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
    /// Print a shell completion script: `outcry completions bash > /etc/bash_completion.d/outcry`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `outcry man > /usr/local/share/man/man1/outcry.1`.
    Man,
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
enum StoreCommand {
    /// Copy a whole store (SQLite or PostgreSQL) into an empty one; stop the daemons first.
    /// A copy cut short resumes when run again with the same URLs.
    Copy {
        /// The store to copy, as [storage].url writes it.
        #[arg(long)]
        from: String,
        /// The empty store to copy into; a missing SQLite file is created.
        #[arg(long)]
        to: String,
    },
    /// Rows and bytes per table, the oldest and newest observation, and what `[retention]`
    /// would prune now.
    Stats,
}

#[derive(Subcommand)]
enum CasesCommand {
    /// Insert or update cases from a JSON-lines file.
    Import { file: PathBuf },
    /// List cases as a table (or JSON lines), in natural id order.
    List {
        /// Only cases with this status.
        #[arg(long, value_enum)]
        status: Option<StatusFilter>,
        /// Only cases of this brand (its name or an alias).
        #[arg(long)]
        brand: Option<String>,
        /// Only open cases at this stage (`none`: not yet public).
        #[arg(long, value_enum)]
        stage: Option<StageFilter>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// Riskiest first, with the stored risk of going public as the last column.
        #[arg(long)]
        by_risk: bool,
    },
    /// Close a case; a closed case never alerts.
    Close { id: String },
    /// Reopen a closed case; it links and alerts again.
    Reopen { id: String },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StatusFilter {
    Open,
    Closed,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StageFilter {
    None,
    Surfaced,
    Spreading,
    Viral,
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    // Replay's output is its stdout; its per-item logs would only drown warnings.
    let default_level = match cli.command {
        Command::Replay { .. } => "warn",
        _ => "info",
    };
    init_logging(cli.log_format, default_level);
    let runtime = match runtime_for(&cli.command) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli));
    // `outcry run` has bounded its own shutdown; a task still running now (a lookup on a
    // blocking thread, an abandoned send) must not hold the process.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// glibc gives every thread that allocates an arena of its own, up to eight per core, and
/// each arena keeps the pages freed in it. In a daemon whose threads mostly wait that was a
/// sixth of its memory at 10,000 feeds (45 MiB against 38 with two arenas). With the
/// daemon's one async worker, one arena is also cheaper than two: at 10,000 feeds 31 MiB
/// and 0.25 CPU s per 1,000 polls, against 36 MiB and 0.26–0.28 (docs/performance.md).
/// `MALLOC_ARENA_MAX`, when set, still decides.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    const ARENAS: libc::c_int = 1;
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: sets one allocator parameter, before any other thread is started.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// Async worker threads of the daemon (`run`, `demo`) unless `TOKIO_WORKER_THREADS` says
/// otherwise. Its work is many short waits (polls, deliveries, page requests) and one
/// pipeline behind a lock; SQLite runs on threads of its own. A second worker mostly wakes
/// to find nothing to steal: at 10,000 feeds it cost about a fifth more CPU per poll than
/// one (0.31 CPU s per 1,000 polls against 0.26 and 0.28 in alternated runs,
/// docs/performance.md). Other commands keep a worker per core.
const DAEMON_WORKERS: usize = 1;

fn runtime_for(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    let daemon = matches!(command, Command::Run | Command::Demo { .. });
    if daemon && std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(DAEMON_WORKERS);
    }
    builder.enable_all().build()
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
                // Not println!, which panics when the reader has gone (`outcry demo | head
                // -2`, or a test that stops reading after the token): the demo runs on.
                let _ = writeln!(
                    std::io::stdout(),
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
        Command::Store {
            command: StoreCommand::Copy { from, to },
        } => {
            let report = store::copy::copy(&from, &to).await?;
            if report.resumed {
                println!("resumed the unfinished copy");
            }
            for table in &report.tables {
                println!("{}\t{} rows", table.table, table.rows);
            }
            println!(
                "copied {} to {}; every table's rows counted in both",
                store::redacted_url(&from),
                store::redacted_url(&to)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Store {
            command: StoreCommand::Stats,
        } => store_stats(&cli.config).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "outcry", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .context("cannot write the manual page")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { set } => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            replay::replay(&set, &mut out).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `outcry store stats`: the store's size now, and what the pruning task would remove.
async fn store_stats(config: &Path) -> Result<ExitCode> {
    let loaded = load_offline(config)?;
    let store = store::open(&loaded.storage_url).await?;
    let stats = store.storage_stats().await?;
    let retention = &loaded.config.retention;
    let prunable = store
        .prunable(&outcry::retention::rules(retention, chrono::Utc::now()))
        .await?;
    println!("table\trows\tbytes");
    for table in &stats.tables {
        let bytes = table.bytes.map_or("-".to_string(), |b| b.to_string());
        println!("{}\t{}\t{bytes}", table.table, table.rows);
    }
    println!(
        "store {}: {} bytes",
        store::redacted_url(&loaded.storage_url),
        stats.bytes
    );
    match stats.observed {
        Some((oldest, newest)) => {
            let when = |ms: i64| {
                chrono::DateTime::from_timestamp_millis(ms)
                    .map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
            };
            println!("observations from {} to {}", when(oldest), when(newest));
        }
        None => println!("no observations yet"),
    }
    let age = |d: std::time::Duration| humantime::format_duration(d).to_string();
    println!(
        "retention would prune now: {} items and {} observations \
         (items linked to no case unseen for {}; closed cases' series hourly after {}, daily after {})",
        prunable.items,
        prunable.observations,
        age(retention.unlinked_items),
        age(retention.hourly_after),
        age(retention.daily_after)
    );
    Ok(ExitCode::SUCCESS)
}

fn load(path: &Path) -> Result<Loaded> {
    load_with(path, config::Secrets::Serve)
}

/// For commands that serve no HTTP: no token need be set.
fn load_offline(path: &Path) -> Result<Loaded> {
    load_with(path, config::Secrets::Skip)
}

fn load_with(path: &Path, secrets: config::Secrets) -> Result<Loaded> {
    config::load_with(path, secrets)
        .map_err(|problems| anyhow!("invalid configuration:\n{problems}"))
}

fn check(path: &Path) -> Result<ExitCode> {
    match config::load_with(path, config::Secrets::All) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("warning: {warning}");
            }
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
    let fetch_config = config::load_with(config_path, config::Secrets::Skip)
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
        if let Some(repaired) = &page.repaired {
            println!(
                "page {}: ill-formed feed, read after repair: {repaired}",
                i + 1
            );
        }
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
    let loaded = load_offline(config_path)?;
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
    let generated = outcry::watch::current(
        &store,
        &loaded.config.watch,
        &loaded.config.brands,
        loaded.config.risk.alert_at,
    )
    .await?;
    // Generated sources say where they came from, and their interval while it is short.
    states.extend(generated.into_iter().map(|g| {
        let from = match &g.brand {
            Some(brand) => format!("brand {brand}"),
            None => format!("case {}", g.cases.join(", case ")),
        };
        let risky = if g.risky { ", at risk" } else { "" };
        let name = format!(
            "{} (from watch {}, {from}{risky}, every {})",
            g.source.name,
            g.watch,
            humantime::format_duration(g.interval)
        );
        (cell(&name, 300), stored.remove(&g.source.name))
    }));
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

/// Scraped and imported text is shown on a terminal: no control characters, no tabs that
/// would shift the columns.
fn cell(text: &str, width: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(width)
        .collect()
}

/// `risks`, when given, adds each case's stored risk (none yet: `-`, or null in JSON).
fn print_cases(
    rows: &[(Case, Option<Stage>)],
    json: bool,
    risks: Option<&std::collections::HashMap<String, f64>>,
) -> Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if json {
        for (case, stage) in rows {
            let mut value = serde_json::to_value(case)?;
            if let Some(object) = value.as_object_mut() {
                object.insert("stage".into(), stage.map(|s| s.as_str()).into());
                if let Some(risks) = risks {
                    object.insert("risk".into(), risks.get(&case.id).copied().into());
                }
            }
            writeln!(out, "{value}")?;
        }
        return Ok(out.flush()?);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(case, stage)| {
            let mut row = vec![
                cell(&case.id, 64),
                case.status.as_str().to_string(),
                cell(&case.brand, 24),
                stage.map_or("-", |s| s.as_str()).to_string(),
                case.opened_at
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| "-".into()),
                cell(&case.summary, 40),
            ];
            if let Some(risks) = risks {
                row.push(
                    risks
                        .get(&case.id)
                        .map_or("-".into(), |r| format!("{r:.2}")),
                );
            }
            row
        })
        .collect();
    let mut header: Vec<String> = ["ID", "STATUS", "BRAND", "STAGE", "OPENED", "SUMMARY"]
        .map(String::from)
        .to_vec();
    if risks.is_some() {
        header.push("RISK".into());
    }
    // Chinese characters take two columns on a terminal.
    let width = |s: &str| {
        s.chars()
            .map(|c| if c.is_ascii() { 1 } else { 2 })
            .sum::<usize>()
    };
    let mut widths = vec![0usize; header.len()];
    for row in std::iter::once(&header).chain(&table) {
        for (w, text) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(text));
        }
    }
    for row in std::iter::once(&header).chain(&table) {
        let mut line = String::new();
        for (i, text) in row.iter().enumerate() {
            line.push_str(text);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(widths[i] - width(text) + 2));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(out.flush()?)
}

async fn cases_command(config_path: &Path, command: CasesCommand) -> Result<ExitCode> {
    let loaded = load_offline(config_path)?;
    let store = store::open(&loaded.storage_url).await?;
    match command {
        CasesCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let brands = &loaded.config.brands;
            let report = cases::import(store.as_ref(), &text, brands).await?;
            // A new case has its risk at once, not at the daemon's next round.
            outcry::risk::task::refresh(
                &store,
                &outcry::risk::RiskModel::new(brands),
                loaded.config.risk.alert_at,
                chrono::Utc::now(),
                &outcry::present::Ui::of(&loaded.config),
            )
            .await?;
            for (_, case) in cases::parse(&text).0 {
                if cases::canonical_brand(brands, &case.brand).is_none() {
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
        CasesCommand::List {
            status,
            brand,
            stage,
            json,
            by_risk,
        } => {
            let brand = match brand {
                Some(name) => Some(
                    cases::canonical_brand(&loaded.config.brands, &name)
                        .map(str::to_string)
                        .unwrap_or(name),
                ),
                None => None,
            };
            let status = status.map(|s| match s {
                StatusFilter::Open => CaseStatus::Open,
                StatusFilter::Closed => CaseStatus::Closed,
            });
            let stages: std::collections::HashMap<String, Stage> = store
                .case_standings()
                .await?
                .into_iter()
                .filter_map(|s| s.stage.map(|(stage, _)| (s.case.id, stage)))
                .collect();
            let mut rows: Vec<(Case, Option<Stage>)> = store
                .cases(status)
                .await?
                .into_iter()
                .filter(|c| brand.as_ref().is_none_or(|b| &c.brand == b))
                .map(|c| {
                    let stage = stages.get(&c.id).copied();
                    (c, stage)
                })
                .filter(|(c, s)| match stage {
                    None => true,
                    Some(wanted) => {
                        c.is_open()
                            && *s
                                == match wanted {
                                    StageFilter::None => None,
                                    StageFilter::Surfaced => Some(Stage::Surfaced),
                                    StageFilter::Spreading => Some(Stage::Spreading),
                                    StageFilter::Viral => Some(Stage::Viral),
                                }
                    }
                })
                .collect();
            rows.sort_by(|(a, _), (b, _)| cases::natural_order(&a.id, &b.id));
            let risks = if by_risk {
                let risks: std::collections::HashMap<String, f64> = store
                    .case_risks(None)
                    .await?
                    .into_iter()
                    .map(|r| (r.case_id, r.risk.score))
                    .collect();
                let score = |id: &str| risks.get(id).copied().unwrap_or(-1.0);
                rows.sort_by(|(a, _), (b, _)| score(&b.id).total_cmp(&score(&a.id)));
                Some(risks)
            } else {
                None
            };
            print_cases(&rows, json, risks.as_ref())?;
            Ok(ExitCode::SUCCESS)
        }
        CasesCommand::Reopen { id } => {
            let Some(mut case) = store.case(&id).await? else {
                bail!("no case with id {id}");
            };
            if case.is_open() {
                println!("{id} is already open");
            } else {
                case.status = CaseStatus::Open;
                store.upsert_case(&case, chrono::Utc::now()).await?;
                println!("reopened {id}");
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
