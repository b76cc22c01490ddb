//! API and ingest tokens kept in the data directory.
//!
//! `tokens.json` holds API token hashes (never secrets). On the first start the server
//! creates an admin token and an ingest token and writes each secret once to a file
//! readable only by the owner (`admin.token`, `ingest.token`), so the operator can pick
//! them up without them ever appearing in a log.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use rampart_server::auth::{ApiTokenConfig, Role, generate_token, sha256_hex};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token, store its hash in the data directory and print the secret once.
    Create {
        #[arg(long)]
        name: String,
        /// admin, soc_engineer, soc_manager, incident_responder, analyst, viewer
        #[arg(long)]
        role: String,
        /// Restrict the token to one tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List API tokens (names, roles, tenants; never secrets).
    List,
    /// Print the SHA-256 of a secret read from standard input, for `[[auth.tokens]]`.
    Hash,
}

pub fn tokens_path(data_dir: &Path) -> PathBuf {
    data_dir.join("tokens.json")
}

pub fn load_stored(data_dir: &Path) -> anyhow::Result<Vec<ApiTokenConfig>> {
    let path = tokens_path(data_dir);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn save_stored(data_dir: &Path, tokens: &[ApiTokenConfig]) -> anyhow::Result<()> {
    let path = tokens_path(data_dir);
    write_private(&path, &serde_json::to_vec_pretty(tokens)?)
}

/// Write a file only its owner can read, atomically (temp file + rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Create the first admin token when no API token exists at all; returns the path of
/// the secret file when one was created.
pub fn bootstrap_admin(cfg: &Config) -> anyhow::Result<Option<PathBuf>> {
    let stored = load_stored(&cfg.data_dir)?;
    if !stored.is_empty() || !cfg.auth.tokens.is_empty() {
        return Ok(None);
    }
    let secret = generate_token().map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    save_stored(
        &cfg.data_dir,
        &[ApiTokenConfig {
            name: "admin".into(),
            role: Role::Admin,
            tenant: None,
            sha256: sha256_hex(&secret),
        }],
    )?;
    let path = cfg.data_dir.join("admin.token");
    write_private(&path, format!("{secret}\n").as_bytes())?;
    Ok(Some(path))
}

/// The ingest tokens: configured ones, else one generated on first start and kept in
/// `ingest.token` (tenant `default`).
pub fn ingest_tokens(cfg: &Config) -> anyhow::Result<Vec<rampart_ingest::IngestToken>> {
    if !cfg.ingest.http.tokens.is_empty() {
        return Ok(cfg.ingest.http.tokens.clone());
    }
    let path = cfg.data_dir.join("ingest.token");
    let secret = match std::fs::read_to_string(&path) {
        Ok(s) => s.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = generate_token().map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
            write_private(&path, format!("{secret}\n").as_bytes())?;
            tracing::info!(path = %path.display(), "created an ingest token for shippers");
            secret
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Ok(vec![rampart_ingest::IngestToken {
        name: "default".into(),
        token: secret,
        tenant: rampart_model::DEFAULT_TENANT.into(),
    }])
}

pub fn all_api_tokens(cfg: &Config) -> anyhow::Result<Vec<ApiTokenConfig>> {
    let mut tokens = cfg.auth.tokens.clone();
    tokens.extend(load_stored(&cfg.data_dir)?);
    Ok(tokens)
}

pub fn run(cfg: Config, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { name, role, tenant } => {
            let role: Role = serde_json::from_value(serde_json::Value::String(role.clone()))
                .map_err(|_| anyhow::anyhow!("unknown role '{role}': expected admin, soc_engineer, soc_manager, incident_responder, analyst or viewer"))?;
            std::fs::create_dir_all(&cfg.data_dir)
                .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
            let mut stored = load_stored(&cfg.data_dir)?;
            if stored.iter().any(|t| t.name == name) {
                anyhow::bail!("a token named '{name}' exists already");
            }
            let secret = generate_token().map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
            stored.push(ApiTokenConfig {
                name,
                role,
                tenant,
                sha256: sha256_hex(&secret),
            });
            save_stored(&cfg.data_dir, &stored)?;
            println!("{secret}");
            eprintln!(
                "token stored (hash only); restart the server to load it. The secret is shown only now."
            );
            Ok(())
        }
        TokenCommand::List => {
            for t in all_api_tokens(&cfg)? {
                println!(
                    "{}\t{:?}\t{}",
                    t.name,
                    t.role,
                    t.tenant.as_deref().unwrap_or("*")
                );
            }
            Ok(())
        }
        TokenCommand::Hash => {
            let mut secret = String::new();
            std::io::stdin().read_line(&mut secret)?;
            println!("{}", sha256_hex(secret.trim()));
            Ok(())
        }
    }
}
