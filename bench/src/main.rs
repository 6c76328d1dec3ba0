//! `loadgen`: load generator for slotstream. Prints `name=value` lines on
//! standard output (diagnostics on standard error); exits 1 when a check
//! failed (events lost or duplicated, subscribers missing, a double booking).
//!
//! The SSE subscribers use raw sockets bound to 127.0.0.1..127.0.0.N (so
//! tens of thousands of connections to one server port stay within the
//! ephemeral ports) and parse the chunked SSE stream themselves; `fanout
//! --h2-connections` and `h2-hold` use h2c streams instead.

mod agenda;
mod book;
mod day;
mod generator;
mod h2hold;
mod hangups;
mod http;
mod ingest;
mod search;
mod sse;
mod stats;
mod storm;
mod subscribers;
mod waitlist;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use subscribers::{FanoutOptions, Provider, SubscribeOptions, Transport, parse_provider};

#[derive(Parser)]
#[command(name = "loadgen", about = "Load generator for slotstream (prints name=value lines)")]
struct Cli {
    /// The server's address.
    #[arg(long, global = true, default_value = "127.0.0.1:8080")]
    server: SocketAddr,
    /// Tokio worker threads of the load generator.
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    /// Loopback source addresses to spread client sockets over (127.0.0.1..N).
    #[arg(long, global = true, default_value_t = 8)]
    sources: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the first provider's id, its 7-day availability path and ETag.
    Info,
    /// Search by time under load, with holds taken meanwhile, then the 304 path.
    Search {
        /// Keep-alive connections searching back to back.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Seconds each phase lasts.
        #[arg(long, default_value_t = 20.0)]
        secs: f64,
        /// Dates searched: today and the days after it.
        #[arg(long, default_value_t = 14)]
        days: i64,
        /// Holds taken (and released) a second while searching.
        #[arg(long, default_value_t = 5.0)]
        writes: f64,
    },
    /// A marketplace day (issue 27 item 1): Zipf viewers over h2c on every
    /// instance, conditional polls, bookings and holds, webhooks to a local
    /// receiver; commit -> receipt on the same and other instances, 304
    /// share, CPU, RSS, reads per event, webhook lag, lost and duplicated
    /// events. Needs a catalogue of `bench/day_catalogue.py` and, for
    /// webhooks, SLOTSTREAM_ADMIN_TOKEN and --webhook-allow-private servers.
    Day(day::DayOptions),
    /// N subscribers, E events through the API, delivery latency / loss / duplicates.
    Fanout {
        #[command(flatten)]
        subscribe: SubscribeArgs,
        /// Events to generate (alternating block/unblock, or hold/release, on a few slots).
        #[arg(long, default_value_t = 100)]
        events: usize,
        /// Events per second (over all providers).
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Slots per provider that the events cycle over.
        #[arg(long, default_value_t = 4)]
        slots: usize,
        /// Seconds to wait after the last event for every delivery.
        #[arg(long, default_value_t = 15.0)]
        drain_secs: f64,
        /// Seconds between "all connected" and the first event.
        #[arg(long, default_value_t = 1.0)]
        settle_secs: f64,
        /// How events are made: the provider blocks and unblocks slots, or a
        /// customer takes holds and releases them (the server needs generous
        /// --hold-* limits: each hold and release counts).
        #[arg(long, value_enum, default_value_t = generator::Via::Block)]
        via: generator::Via,
        /// Subscribe over h2c instead of HTTP/1.1: the streams spread over
        /// this many connections (at most 1,000 streams each).
        #[arg(long)]
        h2_connections: Option<usize>,
    },
    /// A reconnect storm: EventSource-like subscribers of one provider while
    /// events keep coming; the caller kills and restarts the server when
    /// `storm_kill=1` is printed and writes the restart time to
    /// --restarted-file. Prints reconnect_storm_secs and the queries it cost.
    Storm {
        #[command(flatten)]
        subscribe: SubscribeArgs,
        /// Events per second, through the restart.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// Slots the events cycle over.
        #[arg(long, default_value_t = 4)]
        slots: usize,
        /// Events every subscriber receives before `storm_kill=1`.
        #[arg(long, default_value_t = 5)]
        events_before_kill: usize,
        /// Events made once every subscriber is current, before the check.
        #[arg(long, default_value_t = 5)]
        events_after: usize,
        /// File the caller writes the restarted server's listening time
        /// into (Unix seconds, e.g. `date +%s.%N`).
        #[arg(long)]
        restarted_file: std::path::PathBuf,
        /// Seconds to wait for the restart, and then for every subscriber to be current.
        #[arg(long, default_value_t = 60.0)]
        timeout_secs: f64,
        /// Seconds to wait for the last deliveries.
        #[arg(long, default_value_t = 15.0)]
        drain_secs: f64,
    },
    /// The booking system's sustained publish rate: batches of slot changes
    /// to one `slotSource: external` provider over HTTP or NATS (the
    /// operator token in SLOTSTREAM_ADMIN_TOKEN).
    Ingest {
        /// The provider's id.
        #[arg(long)]
        provider: String,
        /// Its external id.
        #[arg(long)]
        external_id: String,
        #[arg(long, default_value_t = 200)]
        batches: usize,
        /// Slots each batch changes (each one event).
        #[arg(long, default_value_t = 50)]
        changes: usize,
        #[arg(long, value_enum, default_value_t = ingest::Transport::Http)]
        via: ingest::Transport,
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        nats_url: String,
        /// The server's --ingest-nats-prefix.
        #[arg(long, default_value = "slotstream")]
        nats_prefix: String,
    },
    /// Open N subscribers and keep them until SIGTERM/SIGINT, --hold-secs, or
    /// (with --until-eof) standard input closes.
    Hold {
        #[command(flatten)]
        subscribe: SubscribeArgs,
        #[arg(long)]
        hold_secs: Option<f64>,
        #[arg(long)]
        until_eof: bool,
    },
    /// Many SSE streams over few HTTP/2 (h2c) connections: streams held and
    /// the server's memory per stream.
    H2Hold {
        /// Streams to open.
        #[arg(long, default_value_t = 10_000)]
        streams: usize,
        /// Connections to spread them over (at most 1,000 streams each).
        #[arg(long, default_value_t = 100)]
        connections: usize,
        /// Provider whose stream to open (`ID` or `ID:KEY`); repeat to
        /// spread the streams over several, round-robin.
        #[arg(long = "provider", required = true, value_parser = parse_provider)]
        providers: Vec<Provider>,
        /// The server's pid: its RSS before and after.
        #[arg(long)]
        server_pid: Option<u32>,
        /// After reporting, keep the streams open until SIGTERM/SIGINT.
        #[arg(long)]
        hold: bool,
    },
    /// Clients that hang up mid-request: batch GETs of unknown ids on
    /// connections reset right after sending; the server's RSS and its
    /// directory's entries before and after.
    Hangups {
        /// Requests in all.
        #[arg(long, default_value_t = 100_000)]
        requests: usize,
        /// Connections in flight at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Provider ids per request (1 to 50).
        #[arg(long, default_value_t = 50)]
        ids: usize,
        /// The server's pid, for its RSS.
        #[arg(long)]
        server_pid: u32,
        /// Print the server's RSS every this many requests.
        #[arg(long, default_value_t = 10_000)]
        sample_every: usize,
    },
    /// The provider's agenda stream (issue 24): bookings on the first
    /// --provider timed from their 201 to `booking-created` on its agenda
    /// while --others agendas of the other --providers are open (cookie
    /// sessions, round-robin), which must receive nothing; then the
    /// server's RSS per open agenda stream (--rss-streams).
    Agenda {
        /// `ID:KEY`; the first is the target, the rest carry the other agendas.
        #[arg(long = "provider", required = true, value_parser = parse_provider)]
        providers: Vec<Provider>,
        /// Agendas open on the other providers.
        #[arg(long, default_value_t = 100)]
        others: usize,
        /// Bookings on the target.
        #[arg(long, default_value_t = 200)]
        bookings: usize,
        /// Bookings per second.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// Days of availability to take slots from (1 to 31).
        #[arg(long, default_value_t = 31)]
        days: u32,
        /// Only slots starting at least this many minutes from now.
        #[arg(long, default_value_t = 90)]
        lead_minutes: i64,
        /// Seconds to wait for each booking's event.
        #[arg(long, default_value_t = 10.0)]
        event_timeout_secs: f64,
        /// Seconds between "all open" and the first booking.
        #[arg(long, default_value_t = 1.0)]
        settle_secs: f64,
        /// Agenda streams to open for the RSS figure (0: none).
        #[arg(long, default_value_t = 1000)]
        rss_streams: usize,
        /// The server's pid (RSS and CPU).
        #[arg(long)]
        server_pid: Option<u32>,
        /// Handshakes in flight at once.
        #[arg(long, default_value_t = 256)]
        connect_concurrency: usize,
    },
    /// The waitlist (issue 25): --entries entries wait on one provider's
    /// 30-minute service; each round books a free slot and cancels it, timed
    /// from the cancel to the `waitlist.offered` webhook (a local receiver)
    /// and to the waiting page's banner (the slot `held` on the public
    /// stream, then the entry answering `offered`). The offer must go to the
    /// oldest entry; it is claimed, and one more entry joins at the back.
    /// The server needs --webhook-allow-private and a high
    /// --max-waitlist-per-client.
    Waitlist {
        /// `ID:KEY` (the key subscribes the webhook).
        #[arg(long, value_parser = parse_provider)]
        provider: Provider,
        /// Entries waiting at every cancellation.
        #[arg(long, default_value_t = 1000)]
        entries: usize,
        /// Cancellations timed (each on a fresh free slot of the window).
        #[arg(long, default_value_t = 200)]
        rounds: usize,
        /// Rounds per second, at most.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// Days in the entries' window, from tomorrow in the provider's zone.
        #[arg(long, default_value_t = 14)]
        window_days: u32,
        /// Only slots starting at least this many minutes from now.
        #[arg(long, default_value_t = 60)]
        lead_minutes: i64,
        /// Seconds a round waits for its webhook and its banner.
        #[arg(long, default_value_t = 10.0)]
        timeout_secs: f64,
        /// Milliseconds between a round's booking and its cancellation.
        #[arg(long, default_value_t = 0)]
        settle_ms: u64,
    },
    /// Booking throughput over every provider's free slots, then contention.
    Book {
        /// Concurrent booking clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Seconds of booking.
        #[arg(long, default_value_t = 10.0)]
        duration_secs: f64,
        /// Days of availability to take slots from (1 to 31).
        #[arg(long, default_value_t = 14)]
        days: u32,
        /// Only slots starting at least this many minutes from now.
        #[arg(long, default_value_t = 90)]
        lead_minutes: i64,
        /// Concurrent POSTs for one slot in each contention round.
        #[arg(long, default_value_t = 32)]
        contention: usize,
        /// Contention rounds (each on its own slot).
        #[arg(long, default_value_t = 20)]
        contention_rounds: usize,
        /// Use at most this many providers.
        #[arg(long, default_value_t = usize::MAX)]
        max_providers: usize,
    },
}

#[derive(Args)]
struct SubscribeArgs {
    /// Subscribers to open.
    #[arg(long, short = 'n', default_value_t = 1000)]
    subscribers: usize,
    /// Provider to subscribe to, `ID:KEY` (the key is needed to make events).
    /// Repeat for several; subscribers are spread round-robin.
    #[arg(long = "provider", required = true, value_parser = parse_provider)]
    providers: Vec<Provider>,
    /// Handshakes in flight at once (the rest wait), so the accept queue is not overrun.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Seconds one connection attempt may take.
    #[arg(long, default_value_t = 10.0)]
    connect_timeout_secs: f64,
    /// The server's pid: report its RSS before and after connecting.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Each subscriber opens ONE many-providers stream over every
    /// `--provider` (events reach every subscriber), instead of one provider's.
    #[arg(long)]
    many: bool,
}

impl SubscribeArgs {
    fn options(self, server: SocketAddr, sources: usize, transport: Transport, reconnect: bool) -> SubscribeOptions {
        SubscribeOptions {
            server,
            providers: self.providers,
            subscribers: self.subscribers,
            sources,
            connect_concurrency: self.connect_concurrency,
            connect_timeout: Duration::from_secs_f64(self.connect_timeout_secs),
            server_pid: self.server_pid,
            many: self.many,
            transport,
            reconnect,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(cli.threads.max(1)).enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("loadgen: cannot start the runtime: {error}");
                return ExitCode::FAILURE;
            }
        };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("loadgen: {error}");
            ExitCode::from(2)
        }
    }
}

fn check_fds(subscribers: usize) {
    if let Some(limit) = stats::open_files_limit()
        && subscribers as u64 + 64 > limit
    {
        eprintln!(
            "loadgen: warning: {subscribers} subscribers need more file descriptors than `ulimit -n` ({limit}) allows"
        );
    }
}

async fn run(cli: Cli) -> std::io::Result<bool> {
    let (server, sources) = (cli.server, cli.sources);
    match cli.command {
        Command::Search { connections, secs, days, writes } => {
            search::run(search::SearchOptions { server, connections, secs, days, writes, sources }).await
        }
        Command::Info => {
            let mut client = http::Client::new(server, None);
            let providers = client.get("/api/v1/providers", &[]).await?;
            let json = providers.json()?;
            let list = json.as_array().cloned().unwrap_or_default();
            let first = list.first().ok_or_else(|| http::bad("no providers"))?;
            let id = first["id"].as_str().unwrap_or("");
            let path = format!("/api/v1/providers/{id}/availability?days=7");
            let response = client.get(&path, &[]).await?;
            let etag = response.head.header("etag").unwrap_or("").to_owned();
            let check = client.get(&path, &[("If-None-Match", &etag)]).await?;
            println!("providers={}", list.len());
            println!("provider_id={id}");
            println!("availability_path={path}");
            println!("availability_bytes={}", response.body.len());
            println!("etag={etag}");
            println!("etag_revalidation_status={}", check.status());
            Ok(response.status() == 200 && check.status() == 304)
        }
        Command::Day(mut options) => {
            // The first instance is the one every subcommand names with --server.
            options.instances.insert(0, server);
            day::run(options).await
        }
        Command::Fanout { subscribe, events, rate, slots, drain_secs, settle_secs, via, h2_connections } => {
            let transport = h2_connections.map_or(Transport::Http1, |connections| Transport::H2 { connections });
            check_fds(h2_connections.unwrap_or(subscribe.subscribers));
            let options = subscribe.options(server, sources, transport, false);
            let fanout = FanoutOptions {
                events,
                rate,
                slots,
                drain_timeout: Duration::from_secs_f64(drain_secs),
                settle: Duration::from_secs_f64(settle_secs),
                via,
            };
            subscribers::fanout(options, fanout).await
        }
        Command::Ingest { provider, external_id, batches, changes, via, nats_url, nats_prefix } => {
            let options = ingest::IngestOptions {
                provider_id: provider,
                external_id,
                batches,
                changes,
                via,
                nats_url,
                nats_prefix,
            };
            ingest::run(server, options).await
        }
        Command::Hold { subscribe, hold_secs, until_eof } => {
            check_fds(subscribe.subscribers);
            let options = subscribe.options(server, sources, Transport::Http1, false);
            subscribers::hold(options, hold_secs.map(Duration::from_secs_f64), until_eof).await
        }
        Command::Storm {
            subscribe,
            rate,
            slots,
            events_before_kill,
            events_after,
            restarted_file,
            timeout_secs,
            drain_secs,
        } => {
            check_fds(subscribe.subscribers);
            let options = subscribe.options(server, sources, Transport::Http1, true);
            storm::run(
                options,
                storm::StormOptions {
                    rate,
                    slots,
                    events_before_kill,
                    events_after,
                    restarted_file,
                    timeout: Duration::from_secs_f64(timeout_secs),
                    drain_timeout: Duration::from_secs_f64(drain_secs),
                },
            )
            .await
        }
        Command::H2Hold { streams, connections, providers, server_pid, hold } => {
            check_fds(connections);
            h2hold::run(h2hold::H2HoldOptions {
                server,
                paths: providers.iter().map(|p| format!("/api/v1/providers/{}/availability/stream", p.id)).collect(),
                streams,
                connections,
                server_pid,
                connect_timeout: Duration::from_secs(10),
                hold,
            })
            .await
        }
        Command::Hangups { requests, concurrency, ids, server_pid, sample_every } => {
            hangups::run(hangups::HangupOptions {
                server,
                requests,
                concurrency,
                ids,
                sources,
                server_pid,
                sample_every: sample_every.max(1),
            })
            .await
        }
        Command::Agenda {
            providers,
            others,
            bookings,
            rate,
            days,
            lead_minutes,
            event_timeout_secs,
            settle_secs,
            rss_streams,
            server_pid,
            connect_concurrency,
        } => {
            check_fds(others.max(rss_streams) + 1);
            agenda::run(agenda::AgendaOptions {
                server,
                providers,
                others,
                bookings,
                rate,
                days,
                lead_minutes,
                event_timeout: Duration::from_secs_f64(event_timeout_secs),
                settle: Duration::from_secs_f64(settle_secs),
                rss_streams,
                server_pid,
                sources,
                connect_concurrency,
                connect_timeout: Duration::from_secs(10),
            })
            .await
        }
        Command::Waitlist { provider, entries, rounds, rate, window_days, lead_minutes, timeout_secs, settle_ms } => {
            waitlist::run(waitlist::WaitlistOptions {
                server,
                provider,
                entries,
                rounds,
                rate,
                window_days,
                lead_minutes,
                timeout: Duration::from_secs_f64(timeout_secs),
                settle: Duration::from_millis(settle_ms),
            })
            .await
        }
        Command::Book { clients, duration_secs, days, lead_minutes, contention, contention_rounds, max_providers } => {
            book::run(book::BookOptions {
                server,
                clients,
                duration: Duration::from_secs_f64(duration_secs),
                days,
                lead_minutes,
                contention,
                contention_rounds,
                sources,
                max_providers,
            })
            .await
        }
    }
}
