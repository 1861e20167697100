//! `standing ingest`: NDJSON and CSV files (or stdin) into a data directory's log, durably.
//!
//! Each input is a batch applied whole or not at all: a first pass checks every record and
//! reports each bad one with its file and line; an input with any bad record is not applied.
//! A clean input is then applied in chunks, each made durable with one sync (group commit)
//! before it is acknowledged. Parsing runs on all cores; a chunk is parsed while the previous
//! one is applied and synced.

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use standing_core::{Event, Timestamp};
use standing_ingest::{
    Admission, MAX_RECORD_BYTES, RecordError, Rejection, admit, csv_row_to_wire,
};
use standing_node::Node;
use standing_rules::Model;
use std::io::{BufRead, BufReader, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bytes read per chunk; about 60,000 typical records, one sync each.
const CHUNK_BYTES: usize = 12 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

/// Records read from an input, with their lines: ranges into `buffer`, or a problem found
/// while reading (an oversize line).
struct Chunk {
    buffer: Vec<u8>,
    records: Vec<(usize, Result<Range<usize>, RecordError>)>,
}

trait ChunkReader {
    fn next_chunk(&mut self) -> std::io::Result<Option<Chunk>>;
    fn bytes_read(&self) -> u64;
}

struct NdjsonReader<R> {
    input: R,
    line: usize,
    read: u64,
}

impl<R: BufRead> ChunkReader for NdjsonReader<R> {
    fn next_chunk(&mut self) -> std::io::Result<Option<Chunk>> {
        let mut chunk = Chunk {
            buffer: Vec::with_capacity(CHUNK_BYTES + 4096),
            records: Vec::new(),
        };
        while chunk.buffer.len() < CHUNK_BYTES {
            let start = chunk.buffer.len();
            let read = (&mut self.input)
                .take(MAX_RECORD_BYTES as u64 + 2)
                .read_until(b'\n', &mut chunk.buffer)?;
            if read == 0 {
                break;
            }
            self.read += read as u64;
            self.line += 1;
            let mut end = chunk.buffer.len();
            if end - start > MAX_RECORD_BYTES && chunk.buffer[end - 1] != b'\n' {
                // Skip the rest of an oversize line without holding it.
                let mut length = end - start;
                loop {
                    let available = self.input.fill_buf()?;
                    if available.is_empty() {
                        break;
                    }
                    match available.iter().position(|b| *b == b'\n') {
                        Some(at) => {
                            length += at;
                            self.input.consume(at + 1);
                            self.read += at as u64 + 1;
                            break;
                        }
                        None => {
                            let count = available.len();
                            length += count;
                            self.input.consume(count);
                            self.read += count as u64;
                        }
                    }
                }
                chunk.buffer.truncate(start);
                chunk
                    .records
                    .push((self.line, Err(RecordError::Oversize(length))));
                continue;
            }
            while end > start && matches!(chunk.buffer[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            if chunk.buffer[start..end].iter().all(u8::is_ascii_whitespace) {
                chunk.buffer.truncate(start);
                continue;
            }
            chunk.buffer.truncate(end);
            chunk.records.push((self.line, Ok(start..end)));
        }
        Ok(if chunk.records.is_empty() {
            None
        } else {
            Some(chunk)
        })
    }

    fn bytes_read(&self) -> u64 {
        self.read
    }
}

struct CsvReader<'m, R: Read> {
    model: &'m Model,
    reader: csv::Reader<R>,
    header: Vec<String>,
    record: csv::ByteRecord,
}

impl<R: Read> ChunkReader for CsvReader<'_, R> {
    fn next_chunk(&mut self) -> std::io::Result<Option<Chunk>> {
        let mut chunk = Chunk {
            buffer: Vec::new(),
            records: Vec::new(),
        };
        while chunk.buffer.len() < CHUNK_BYTES {
            let line = self.reader.position().line() as usize;
            match self.reader.read_byte_record(&mut self.record) {
                Ok(false) => break,
                Ok(true) => {
                    let line = self.record.position().map_or(line, |p| p.line() as usize);
                    let size = self.record.as_slice().len();
                    if size > MAX_RECORD_BYTES {
                        chunk.records.push((line, Err(RecordError::Oversize(size))));
                        continue;
                    }
                    let cells: Result<Vec<&str>, _> =
                        self.record.iter().map(std::str::from_utf8).collect();
                    let wire = match cells {
                        Ok(cells) => csv_row_to_wire(self.model, &self.header, &cells),
                        Err(_) => Err(RecordError::InvalidUtf8),
                    };
                    match wire {
                        Ok(bytes) => {
                            let start = chunk.buffer.len();
                            chunk.buffer.extend_from_slice(&bytes);
                            chunk.records.push((line, Ok(start..chunk.buffer.len())));
                        }
                        Err(error) => chunk.records.push((line, Err(error))),
                    }
                }
                Err(error) => {
                    let line = error.position().map_or(line, |p| p.line() as usize);
                    if let csv::ErrorKind::Io(io) = error.kind() {
                        return Err(std::io::Error::new(io.kind(), io.to_string()));
                    }
                    chunk
                        .records
                        .push((line, Err(RecordError::BadCsvRow(error.to_string()))));
                    if matches!(
                        error.kind(),
                        csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                    ) {
                        continue;
                    }
                    break;
                }
            }
        }
        Ok(if chunk.records.is_empty() {
            None
        } else {
            Some(chunk)
        })
    }

    fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }
}

fn open_reader<'m>(
    model: &'m Model,
    path: &Path,
    format: Format,
    limit: u64,
) -> Result<Box<dyn ChunkReader + 'm>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // Reads no further than `limit`: the second pass applies only what the first one checked,
    // even if the file grows in between.
    let buffered = BufReader::with_capacity(1 << 20, file.take(limit));
    Ok(match format {
        Format::Ndjson => Box::new(NdjsonReader {
            input: buffered,
            line: 0,
            read: 0,
        }),
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(true)
                .from_reader(buffered);
            let header = reader
                .headers()
                .with_context(|| format!("reading the header of {}", path.display()))?
                .iter()
                .map(|h| h.trim().to_owned())
                .collect::<Vec<_>>();
            if let Some(required) = standing_ingest::missing_csv_column(&header, false) {
                bail!(
                    "{}:1: the CSV header has no `{required}` column",
                    path.display()
                );
            }
            Box::new(CsvReader {
                model,
                reader,
                header,
                record: csv::ByteRecord::new(),
            })
        }
    })
}

fn parse_chunk(
    model: &Model,
    chunk: &Chunk,
    admission: &Admission<'_>,
) -> Vec<(usize, Result<Event, RecordError>)> {
    chunk
        .records
        .par_iter()
        .with_min_len(1024)
        .map(|(line, record)| {
            // Records here name their source (no key binds one), so the body logged is the
            // record as read.
            let parsed = match record {
                Ok(range) => admit(model, &chunk.buffer[range.clone()], admission)
                    .map(|admitted| admitted.event),
                Err(error) => Err(error.clone()),
            };
            (*line, parsed)
        })
        .collect()
}

/// What happened to one input.
#[derive(Debug, Default)]
pub struct InputSummary {
    pub accepted: u64,
    pub duplicate: u64,
    /// Ids already sent with other content (the first kept).
    pub conflict: u64,
    /// The ids of the first and last event accepted.
    pub first: Option<String>,
    pub last: Option<String>,
    pub rejected: u64,
    pub bytes: u64,
    pub applied: bool,
}

pub struct Options {
    pub acks: bool,
    pub quiet: bool,
    pub format: Option<Format>,
    /// An import of history: records may carry their own `recorded_at` (in recorded order, no
    /// earlier than what the log holds, not in the future).
    pub history: bool,
    /// The latest instant the data directory answered anything (its audit log's last record).
    pub answered_until: Option<Timestamp>,
}

fn progress(total: u64, quiet: bool, label: &str) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());
    bar
}

/// Ingests one input (a file, or stdin spooled to a file) into `node`.
pub fn ingest_input(
    node: &mut Node,
    name: &str,
    path: &Path,
    format: Format,
    now: Timestamp,
    options: &Options,
) -> Result<InputSummary> {
    let model = node.model().clone();
    // History may not be recorded before what the log holds nor before the latest answer the
    // directory gave (its audit log's last record): those answers would change.
    let floor = node
        .last_recorded_at()
        .max(options.answered_until.unwrap_or(Timestamp::MIN));
    let admission = Admission {
        now,
        source: None,
        history_from: options.history.then_some(floor),
        system: false,
    };
    let recorded = &admission;
    let mut latest = floor;
    let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut summary = InputSummary {
        bytes: total,
        ..InputSummary::default()
    };

    // Pass 1: check every record; report each bad one.
    let bar = progress(total, options.quiet, "checking");
    let mut reader = open_reader(&model, path, format, u64::MAX)?;
    let mut rejections = Vec::new();
    while let Some(chunk) = reader
        .next_chunk()
        .with_context(|| format!("reading {name}"))?
    {
        for (line, parsed) in parse_chunk(&model, &chunk, recorded) {
            let parsed = parsed.and_then(|event| {
                // An imported history is in recorded order: recorded times never decrease
                // along the log.
                if options.history && event.recorded_at < latest {
                    return Err(RecordError::RecordedBeforeLog {
                        at: event.recorded_at,
                        floor: latest,
                    });
                }
                latest = event.recorded_at;
                Ok(())
            });
            if let Err(error) = parsed {
                rejections.push(Rejection {
                    file: name.to_owned(),
                    line,
                    error,
                });
            }
        }
        bar.set_position(reader.bytes_read());
    }
    let checked_bytes = reader.bytes_read();
    bar.finish_and_clear();
    if !rejections.is_empty() {
        for rejection in &rejections {
            eprintln!("{rejection}");
        }
        summary.rejected = rejections.len() as u64;
        return Ok(summary);
    }

    // Pass 2: parse the next chunk while the current one is applied and synced.
    let bar = progress(total, options.quiet, "ingesting");
    let started = Instant::now();
    let mut reader = open_reader(&model, path, format, checked_bytes)?;
    let mut current = reader.next_chunk()?.map(|chunk| {
        let parsed = parse_chunk(&model, &chunk, recorded);
        (chunk, parsed)
    });
    let mut stdout = std::io::stdout().lock();
    while let Some((chunk, parsed)) = current.take() {
        let next_chunk = reader.next_chunk()?;
        let bytes_read = reader.bytes_read();
        let mut events = Vec::with_capacity(parsed.len());
        let mut bodies = Vec::with_capacity(parsed.len());
        let mut lines = Vec::with_capacity(parsed.len());
        let mut last_line = 0;
        for ((line, event), (_, range)) in parsed.into_iter().zip(&chunk.records) {
            match (event, range) {
                (Ok(event), Ok(range)) => {
                    events.push(event);
                    bodies.push(&chunk.buffer[range.clone()]);
                    lines.push(line);
                    last_line = line;
                }
                (Err(error), _) => bail!(
                    "{name}:{line}: {error} — the input changed after it was checked; what was acknowledged so far is durable"
                ),
                (Ok(_), Err(error)) => bail!("{name}:{line}: {error}"),
            }
        }
        let (applied, next) = rayon::join(
            || node.ingest(&events, &bodies, standing_node::LOCAL_ORIGIN),
            || {
                next_chunk.map(|chunk| {
                    let parsed = parse_chunk(&model, &chunk, recorded);
                    (chunk, parsed)
                })
            },
        );
        let report = applied?;
        for (outcome, event) in report.outcomes.iter().zip(&events) {
            match outcome {
                standing_engine::ApplyOutcome::Accepted => {
                    summary.accepted += 1;
                    if summary.first.is_none() {
                        summary.first = Some(event.id.to_string());
                    }
                    summary.last = Some(event.id.to_string());
                }
                standing_engine::ApplyOutcome::Duplicate => summary.duplicate += 1,
                standing_engine::ApplyOutcome::Conflict => summary.conflict += 1,
                _ => summary.rejected += 1,
            }
        }
        for ((event, outcome), line) in events.iter().zip(&report.outcomes).zip(&lines) {
            if !matches!(
                outcome,
                standing_engine::ApplyOutcome::Accepted | standing_engine::ApplyOutcome::Duplicate
            ) {
                eprintln!(
                    "{name}:{line}: event {}/{} refused: {outcome}",
                    event.source, event.id
                );
            }
        }
        if options.acks {
            writeln!(stdout, "ack {name} {last_line}")?;
            stdout.flush()?;
        }
        bar.set_position(bytes_read);
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "{:.0} events/s",
            (summary.accepted + summary.duplicate) as f64 / seconds
        ));
        current = next;
    }
    bar.finish_and_clear();
    summary.applied = true;
    Ok(summary)
}

/// Removes what an earlier, killed ingest left of stdin. Called with the data directory's lock
/// held, so no other process is spooling.
pub fn remove_stale_spools(directory: &Path) {
    if let Ok(entries) = std::fs::read_dir(directory) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("stdin-") && name.ends_with(".spool") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Copies stdin into a file in the data directory so it can be read twice.
pub fn spool_stdin(directory: &Path) -> Result<PathBuf> {
    let path = directory.join(format!("stdin-{}.spool", std::process::id()));
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    std::io::copy(&mut std::io::stdin().lock(), &mut file).context("reading stdin")?;
    Ok(path)
}
