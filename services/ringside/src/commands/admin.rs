//! `ringside admin create-user`: bootstraps users (the first platform admin
//! of a deployment) straight into the provisioning database.

use std::io::BufRead as _;

use anyhow::Context as _;
use ringside_provisioning::{Provisioning, Role};

use crate::commands::common::{SettingsArgs, tool_runtime};

/// Administration.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Create a user (and its tenant if it does not exist). The password is
    /// read from the first line of stdin, or generated and printed.
    CreateUser(CreateUser),
}

#[derive(Debug, clap::Args)]
pub struct CreateUser {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The tenant (created if missing).
    #[arg(long)]
    pub tenant: String,
    /// platform_admin, tenant_admin, operator or viewer.
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    #[arg(long)]
    pub username: String,
    /// Read the password from stdin instead of generating one.
    #[arg(long)]
    pub password_stdin: bool,
}

fn parse_role(text: &str) -> Result<Role, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        format!("unknown role '{text}' (platform_admin, tenant_admin, operator, viewer)")
    })
}

/// Runs the admin command.
///
/// # Errors
/// Invalid settings, the database or NATS unreachable, or the user refused
/// (taken name, invalid password).
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        AdminCommand::CreateUser(c) => create_user(c),
    }
}

fn create_user(c: CreateUser) -> anyhow::Result<()> {
    let settings = c.settings.load()?;
    let (password, generated) = if c.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (crate::commands::monolith::random_token(20), true)
    };
    tool_runtime()?.block_on(async move {
        let (bus, topology) = crate::bus::connect(&settings.bus, "admin").await?;
        let provisioning = Provisioning::open(&settings.provisioning, bus, topology)
            .await
            .context("opening the provisioning database")?;
        let user = provisioning
            .bootstrap_user(&c.tenant, &c.username, &password, c.role)
            .await
            .context("creating the user")?;
        println!("created user '{}' in tenant '{}'", user.username, c.tenant);
        if generated {
            println!("password: {password}");
        }
        Ok(())
    })
}
