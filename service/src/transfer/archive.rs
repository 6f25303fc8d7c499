//! The archive: a tar file holding `manifest.json` first, then one `tables/<name>.copy` per
//! table (its rows in COPY text format). Written from spooled temp files, so memory stays flat;
//! read back into temp files, checking every table's size, row count and SHA-256 against the
//! manifest before anything reaches the database.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{TABLES, io_err};
use crate::ServiceError;

/// What the manifest's `format` field says: this is a Tenantry tenant export.
pub const FORMAT: &str = "tenantry-export";
/// The one archive format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's path in the archive; it is the first entry.
const MANIFEST: &str = "manifest.json";
/// Largest manifest read into memory: a few hundred bytes per table, so 1 MiB is ample.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// The archive's table of contents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The archive format's version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// The tenant's migration version when it was exported (the newest applied migration).
    pub migration_version: String,
    /// The exported tenant's slug.
    pub tenant: String,
    /// When the snapshot was taken.
    pub exported_at: DateTime<Utc>,
    /// The tables, in load order.
    pub tables: Vec<TableEntry>,
}

/// One table in the archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    /// The table's name in the tenant schema.
    pub name: String,
    /// Its entry in the archive: `tables/<name>.copy`.
    pub file: String,
    /// Its columns, in the order each row lists them.
    pub columns: Vec<String>,
    /// How many rows the entry holds (one per line).
    pub rows: u64,
    /// The entry's size in bytes.
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the entry's bytes.
    pub sha256: String,
}

/// A finished archive in an (unnamed, self-deleting) temp file, positioned at its start.
#[derive(Debug)]
pub struct Archive {
    /// The archive's bytes.
    pub file: File,
    /// Its length in bytes.
    pub len: u64,
    /// Its manifest.
    pub manifest: Manifest,
}

/// A table's rows spooled to a temp file, with what the manifest says of them.
#[derive(Debug)]
pub(super) struct Spooled {
    pub entry: TableEntry,
    pub file: File,
}

/// Writes the tar: the manifest, then each spooled table. Blocking (temp files).
pub(super) fn write(manifest: Manifest, tables: Vec<Spooled>) -> Result<Archive, ServiceError> {
    let out = tempfile::tempfile().map_err(io_err("creating the archive file"))?;
    let mut tar = tar::Builder::new(out);
    let mtime = u64::try_from(manifest.exported_at.timestamp()).unwrap_or(0);
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ServiceError::Unexpected(format!("manifest: {e}")))?;
    append(&mut tar, MANIFEST, json.len() as u64, mtime, json.as_slice())?;
    for mut table in tables {
        table.file.seek(SeekFrom::Start(0)).map_err(io_err("rewinding a table file"))?;
        append(&mut tar, &table.entry.file, table.entry.bytes, mtime, &mut table.file)?;
    }
    let mut file = tar.into_inner().map_err(io_err("finishing the archive"))?;
    file.flush().map_err(io_err("writing the archive"))?;
    let len = file.seek(SeekFrom::End(0)).map_err(io_err("sizing the archive"))?;
    file.seek(SeekFrom::Start(0)).map_err(io_err("rewinding the archive"))?;
    Ok(Archive { file, len, manifest })
}

fn append(
    tar: &mut tar::Builder<File>,
    path: &str,
    size: u64,
    mtime: u64,
    data: impl Read,
) -> Result<(), ServiceError> {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, data).map_err(io_err("writing the archive"))
}

/// An archive read back: its manifest, and each table's verified rows in a temp file.
#[derive(Debug)]
pub(super) struct Unpacked {
    pub manifest: Manifest,
    pub tables: Vec<Spooled>,
}

/// Reads and checks an archive: a manifest first, of a known format version, naming only
/// known tables, each once, in load order; then exactly the entries it names, each of the size,
/// row count and SHA-256 it says. Blocking (temp files). Every refusal is
/// [`ServiceError::Invalid`] or, for a format version or migration this build does not know,
/// [`ServiceError::Unprocessable`], naming the problem.
pub(super) fn unpack(archive: impl Read) -> Result<Unpacked, ServiceError> {
    let mut tar = tar::Archive::new(archive);
    // tar's messages can quote the bytes it could not read: only printable ASCII of them is
    // echoed back, so an answer never carries the sender's raw bytes.
    let corrupt = |e: std::io::Error| {
        let said: String = e.to_string().chars().filter(|c| c.is_ascii_graphic() || *c == ' ').collect();
        ServiceError::Invalid(format!(
            "the archive is not a readable tar file (corrupt or truncated): {said}"
        ))
    };
    // Raw: a GNU long-name or pax header is an entry of its own here, refused as such
    // ([`plain`]) before its data is read, rather than read whole into memory by the tar crate
    // (it takes any length: a 100 MiB name would be held, echoed and audited).
    let mut entries = tar.entries().map_err(corrupt)?.raw(true);
    let first = entries.next().transpose().map_err(corrupt)?;
    let Some(mut first) = first else {
        return Err(ServiceError::Invalid("the archive is empty: it has no manifest.json".to_owned()));
    };
    let path = entry_path(&first)?;
    if path != MANIFEST {
        return Err(ServiceError::Invalid(format!(
            "the archive's first entry is {path:?}, not its manifest ({MANIFEST})"
        )));
    }
    if first.size() > MAX_MANIFEST_BYTES {
        return Err(ServiceError::Invalid(format!("{MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes")));
    }
    let mut json = Vec::new();
    first.read_to_end(&mut json).map_err(corrupt)?;
    if json.len() as u64 != first.size() {
        return Err(ServiceError::Invalid(format!("the archive is truncated inside {MANIFEST}")));
    }
    let manifest = parse_manifest(&json)?;
    let mut tables = Vec::with_capacity(manifest.tables.len());
    for expected in &manifest.tables {
        let entry = entries.next().transpose().map_err(corrupt)?.ok_or_else(|| {
            ServiceError::Invalid(format!(
                "the archive is truncated: it lacks {}, which its manifest names",
                expected.file
            ))
        })?;
        tables.push(Spooled { entry: expected.clone(), file: verify(entry, expected)? });
    }
    if let Some(extra) = entries.next().transpose().map_err(corrupt)? {
        let path = entry_path(&extra)?;
        return Err(ServiceError::Invalid(format!(
            "the archive holds {path:?}, which its manifest does not name"
        )));
    }
    Ok(Unpacked { manifest, tables })
}

/// An entry's name, once it is known to be a plain file: an export holds nothing else (no
/// directories, links, GNU long names or pax headers), and its names are short ones a tar
/// header holds itself (at most 255 bytes).
fn entry_path(entry: &tar::Entry<'_, impl Read>) -> Result<String, ServiceError> {
    let kind = entry.header().entry_type();
    if kind != tar::EntryType::Regular {
        return Err(ServiceError::Invalid(format!(
            "the archive holds an entry of tar type {:?} ({kind:?}); an export holds only plain files \
             ({MANIFEST} and tables/<table>.copy)",
            char::from(kind.as_byte())
        )));
    }
    let path =
        entry.path().map_err(|e| ServiceError::Invalid(format!("an archive entry has a bad name: {e}")))?;
    Ok(path.to_string_lossy().into_owned())
}

/// The manifest, its format version checked before its shape (so an archive of a later format
/// is named as such, not as a manifest with unknown fields).
fn parse_manifest(json: &[u8]) -> Result<Manifest, ServiceError> {
    let invalid =
        |e: serde_json::Error| ServiceError::Invalid(format!("{MANIFEST} is not a valid manifest: {e}"));
    let value: Value = serde_json::from_slice(json).map_err(invalid)?;
    if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(ServiceError::Invalid(format!("{MANIFEST} does not say \"format\": \"{FORMAT}\"")));
    }
    match value.get("format_version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(ServiceError::Unprocessable(format!(
                "the archive's format version is {v}; this server reads version {FORMAT_VERSION} only"
            )));
        }
        None => return Err(ServiceError::Invalid(format!("{MANIFEST} has no numeric format_version"))),
    }
    let manifest: Manifest = serde_json::from_value(value).map_err(invalid)?;
    let names: Vec<&str> = manifest.tables.iter().map(|t| t.name.as_str()).collect();
    let order: Vec<&str> = TABLES.iter().copied().filter(|t| names.contains(t)).collect();
    if names != order {
        return Err(ServiceError::Invalid(format!(
            "the manifest's tables {names:?} are not known tables in load order (known: {TABLES:?})"
        )));
    }
    for table in &manifest.tables {
        if table.file != format!("tables/{}.copy", table.name) {
            return Err(ServiceError::Invalid(format!(
                "the manifest puts table {} in {:?}, not tables/{}.copy",
                table.name, table.file, table.name
            )));
        }
    }
    Ok(manifest)
}

/// Copies an entry to a temp file, checking its name, size, row count and SHA-256.
fn verify(mut entry: tar::Entry<'_, impl Read>, expected: &TableEntry) -> Result<File, ServiceError> {
    let path = entry_path(&entry)?;
    if path != expected.file {
        return Err(ServiceError::Invalid(format!(
            "the archive holds {path:?} where its manifest names {}",
            expected.file
        )));
    }
    let mut file = tempfile::tempfile().map_err(io_err("creating a table file"))?;
    let (mut hasher, mut rows, mut bytes, mut last) = (Sha256::new(), 0u64, 0u64, b'\n');
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = entry.read(&mut buf).map_err(|e| {
            ServiceError::Invalid(format!("the archive is truncated inside {}: {e}", expected.file))
        })?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        hasher.update(chunk);
        rows += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        bytes += n as u64;
        last = chunk[n - 1];
        file.write_all(chunk).map_err(io_err("writing a table file"))?;
    }
    let problem = if bytes < expected.bytes {
        Some(format!("is truncated: {bytes} of the {} bytes its manifest says", expected.bytes))
    } else if bytes != expected.bytes {
        Some(format!("holds {bytes} bytes, its manifest says {}", expected.bytes))
    } else if last != b'\n' {
        Some("ends inside a row (its last line has no newline)".to_owned())
    } else if rows != expected.rows {
        Some(format!("holds {rows} rows, its manifest says {}", expected.rows))
    } else if hex(&hasher.finalize()) != expected.sha256 {
        Some("does not match its SHA-256 checksum in the manifest".to_owned())
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(ServiceError::Invalid(format!("{} {problem}: the archive is corrupt", expected.file)));
    }
    file.seek(SeekFrom::Start(0)).map_err(io_err("rewinding a table file"))?;
    Ok(file)
}

/// Lower-case hex of a digest.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
