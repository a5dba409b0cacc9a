//! `gatehouse`: the server and its administrative subcommands.

use std::process::ExitCode;

use app::accounts::{bootstrap, members};
use app::audit::{chain, Actor};
use clap::Parser;
use gatehouse_server::config::{
    AuditCommand, Command, Config, EvidenceCommand, GovernanceCommand, KeysCommand,
    ResourceServerCommand, StaffCommand,
};

/// mimalloc rather than glibc's allocator: under load the two runtime threads
/// allocated and freed through glibc's arena locks, which took about 12 % of the
/// server's CPU on the token endpoint (BENCHMARKS.md, "The token path near the floor").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    init_logging(&config.log_format);
    let settings = match config.settings() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("gatehouse: the public URL is not valid: {err}");
            return ExitCode::from(2);
        }
    };
    let result = match config.command {
        None | Some(Command::Serve) => serve(&config, settings).await,
        Some(Command::Staff {
            command: StaffCommand::Create { email, name, role },
        }) => staff_create(settings, &email, &name, &role).await,
        Some(Command::Audit {
            command: AuditCommand::Verify { checkpoints },
        }) => audit_verify(settings, checkpoints.as_deref()).await,
        Some(Command::Audit {
            command: AuditCommand::Checkpoint,
        }) => audit_checkpoint(settings).await,
        Some(Command::DemoCode) => demo_code(),
        Some(Command::Traffic {
            target,
            pattern,
            client_id,
            client_secret,
            token_path,
            api_path,
            minutes,
            rate,
            forwarded_for,
        }) => {
            let plan = gatehouse_server::traffic::Plan {
                target,
                token_path,
                api_path,
                client_id,
                client_secret,
                pattern,
                minutes,
                rate,
                forwarded_for,
            };
            match gatehouse_server::traffic::run(plan).await {
                Ok(report) => {
                    println!("{report}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(problem) => {
                    eprintln!("gatehouse traffic: {problem}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Some(Command::ResourceServer { command }) => resource_server(settings, command).await,
        Some(Command::Inventory {
            format,
            org,
            environment,
            status,
            expiring_within,
            dormant_for,
            no_owner,
            out_of_policy,
            has_exception,
        }) => {
            let flag = |on: bool| if on { "1".to_string() } else { String::new() };
            let filter = app::governance::inventory::Filter {
                org,
                environment,
                status,
                expiring_within,
                dormant_for,
                no_owner: flag(no_owner),
                out_of_policy: flag(out_of_policy),
                has_exception: flag(has_exception),
                ..Default::default()
            };
            gatehouse_server::inventory(settings, &filter, &format).await
        }
        Some(Command::Governance {
            command: GovernanceCommand::Preview { as_of, json },
        }) => gatehouse_server::governance_preview(settings, as_of.as_deref(), json).await,
        Some(Command::Governance {
            command: GovernanceCommand::Sweep,
        }) => gatehouse_server::governance_sweep(settings).await,
        Some(Command::Instances) => gatehouse_server::instances_list(settings)
            .await
            .map(|text| {
                print!("{text}");
                ExitCode::SUCCESS
            }),
        Some(Command::Evidence {
            command: EvidenceCommand::List,
        }) => gatehouse_server::evidence_list(settings).await.map(|text| {
            print!("{text}");
            ExitCode::SUCCESS
        }),
        Some(Command::Evidence {
            command: EvidenceCommand::Export { id, out },
        }) => gatehouse_server::evidence_export(settings, &id, &out)
            .await
            .map(|message| {
                println!("{message}");
                ExitCode::SUCCESS
            }),
        Some(Command::Evidence {
            command: EvidenceCommand::Verify { path },
        }) => gatehouse_server::evidence_verify(settings, &path)
            .await
            .map(|verification| {
                print!("{verification}");
                if verification.problems.is_empty() {
                    println!();
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }),
        Some(Command::Keys {
            command:
                KeysCommand::Rotate {
                    alg,
                    activate_after,
                    issuer,
                },
        }) => gatehouse_server::keys_rotate(settings, &issuer, &alg, activate_after)
            .await
            .map(|message| {
                println!("{message}");
                ExitCode::SUCCESS
            }),
        Some(Command::Keys {
            command:
                KeysCommand::Retire {
                    kid,
                    reason,
                    issuer,
                },
        }) => gatehouse_server::keys_retire(settings, &issuer, &kid, &reason)
            .await
            .map(|message| {
                println!("{message}");
                ExitCode::SUCCESS
            }),
        Some(Command::Keys {
            command: KeysCommand::List { issuer },
        }) => gatehouse_server::keys_list(settings, &issuer)
            .await
            .map(|list| {
                println!("{list}");
                ExitCode::SUCCESS
            }),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("gatehouse: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_sessions=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(config: &Config, settings: app::Settings) -> Result<ExitCode, String> {
    let addr = config.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let mtls = match config.mtls_addr {
        None => None,
        Some(mtls_addr) => {
            std::fs::create_dir_all(&settings.data_dir).map_err(|e| e.to_string())?;
            let (chain, key) = gatehouse_server::mtls::identity(
                config.tls_cert.as_deref(),
                config.tls_key.as_deref(),
                &settings.data_dir,
                &mtls_addr.ip().to_string(),
            )?;
            let listener = tokio::net::TcpListener::bind(mtls_addr)
                .await
                .map_err(|e| format!("cannot listen on {mtls_addr}: {e}"))?;
            Some(gatehouse_server::MtlsListener {
                listener,
                config: gatehouse_server::mtls::server_config(chain, key)?,
                partner_cas: config
                    .mtls_client_ca
                    .as_deref()
                    .map(gatehouse_server::mtls::partner_ca_verifier)
                    .transpose()?,
            })
        }
    };
    let metrics_listener = match config.metrics_addr {
        None => None,
        Some(metrics_addr) => Some(
            tokio::net::TcpListener::bind(metrics_addr)
                .await
                .map_err(|e| format!("cannot listen on {metrics_addr}: {e}"))?,
        ),
    };
    let running = gatehouse_server::start_with_mtls(settings, listener, mtls)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(metrics_listener) = metrics_listener {
        let router = app::ops::metrics_only(running.state.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(metrics_listener, router).await {
                tracing::error!(error = %err, "the metrics listener stopped");
            }
        });
    }
    println!("{}", gatehouse_server::banner(&running));
    running.server.await.map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

async fn state(settings: app::Settings) -> Result<app::AppState, String> {
    gatehouse_server::compose::state(settings)
        .await
        .map_err(|e| e.to_string())
}

async fn staff_create(
    settings: app::Settings,
    email: &str,
    name: &str,
    role: &str,
) -> Result<ExitCode, String> {
    let state = state(settings).await?;
    match members::create_staff(&state, Actor::system("cli"), email, name, role, None).await {
        Ok(link) => {
            println!("Created {role} {email}. One-time set-up link (valid 72 hours):\n{link}");
            Ok(ExitCode::SUCCESS)
        }
        Err(app::platform::error::Error::Invalid(invalid)) => {
            for (field, message) in invalid.fields {
                eprintln!("{field}: {message}");
            }
            Ok(ExitCode::from(2))
        }
        Err(err) => Err(err.to_string()),
    }
}

async fn audit_verify(
    settings: app::Settings,
    checkpoints: Option<&std::path::Path>,
) -> Result<ExitCode, String> {
    let (verdict, finding) = gatehouse_server::audit_verify(settings, checkpoints).await?;
    println!("{verdict}");
    let mut ok = matches!(verdict, chain::Verdict::Intact { .. });
    if let Some(finding) = finding {
        println!("{finding}");
        ok &= matches!(finding, app::audit::checkpoint::Finding::Hold { .. });
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn audit_checkpoint(settings: app::Settings) -> Result<ExitCode, String> {
    let state = state(settings).await?;
    let now = state.clock.now();
    match app::audit::checkpoint::write_if_due(&state, now, 0)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(checkpoint) => println!(
            "audit checkpoint at event {} written to {}",
            checkpoint.seq,
            state.settings.audit_checkpoint_path().display()
        ),
        None => println!("the head has not moved since the last checkpoint"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn resource_server(
    settings: app::Settings,
    command: ResourceServerCommand,
) -> Result<ExitCode, String> {
    use app::oauth::{resource_servers, Issuer};
    let state = state(settings).await?;
    let actor = Actor::system("cli");
    match command {
        ResourceServerCommand::Create { name, issuer } => {
            let issuer = Issuer::parse(&issuer).ok_or("the issuer is sandbox or production")?;
            let (server, secret) = resource_servers::create(&state, actor, &name, issuer)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "Resource server {} for the {} audience {}.\nclient_id: {}\nclient_secret (shown once): {secret}\nIntrospect at {}",
                server.name,
                issuer.name(),
                issuer.audience(&state.settings),
                server.client_id,
                state.settings.link(&issuer.path(app::oauth::introspect::PATH)),
            );
        }
        ResourceServerCommand::List => {
            for server in resource_servers::list(&state)
                .await
                .map_err(|e| e.to_string())?
            {
                let status = if server.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}\t{status}",
                    server.client_id,
                    server.issuer.name(),
                    server.name
                );
            }
        }
        ResourceServerCommand::Revoke { client_id } => {
            if !resource_servers::revoke(&state, actor, &client_id)
                .await
                .map_err(|e| e.to_string())?
            {
                eprintln!("no active resource server {client_id}");
                return Ok(ExitCode::from(2));
            }
            println!("revoked {client_id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn demo_code() -> Result<ExitCode, String> {
    let secret = totp_rs::Secret::Encoded(bootstrap::DEMO_TOTP_SECRET.into())
        .to_bytes()
        .map_err(|e| format!("{e:?}"))?;
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret)
        .map_err(|e| e.to_string())?;
    let code = totp.generate_current().map_err(|e| e.to_string())?;
    println!("{code}");
    Ok(ExitCode::SUCCESS)
}
