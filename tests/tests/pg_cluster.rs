//! A PostgreSQL cluster of one test's own, for tests that stop or restart the
//! database itself (the shared test server must stay up for every other test).
//! Made with the same binaries `.ci/run` installs (`/usr/lib/postgresql/*/bin`).

use std::path::PathBuf;
use std::process::Command;

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a command line as the `postgres` user when this process is root (initdb
/// refuses root), as this user otherwise.
fn run(line: &str) -> bool {
    let status = if as_root() {
        Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c", line])
            .status()
    } else {
        Command::new("sh").args(["-c", line]).status()
    };
    status.map(|s| s.success()).unwrap_or(false)
}

impl Cluster {
    /// A new cluster on a free port, or `None` when PostgreSQL is not configured for
    /// the tests (and not required).
    pub fn start() -> Option<Self> {
        if std::env::var("GATEHOUSE_TEST_POSTGRES_URL").is_err() {
            assert!(
                std::env::var("GATEHOUSE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "GATEHOUSE_REQUIRE_POSTGRES=1 but GATEHOUSE_TEST_POSTGRES_URL is not set"
            );
            return None;
        }
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's binaries under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .collect();
        versions.sort_by_key(|p| {
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        });
        let bin = versions
            .pop()
            .expect("initdb under /usr/lib/postgresql/*/bin");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("gatehouse-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if as_root() {
            assert!(Command::new("chown")
                .args(["postgres", dir.to_str().unwrap()])
                .status()
                .unwrap()
                .success());
        }
        let cluster = Self { dir, bin, port };
        assert!(
            run(&format!(
                "{}/initdb -D {} -A trust -U postgres >/dev/null",
                cluster.bin.display(),
                cluster.dir.display()
            )),
            "initdb"
        );
        cluster.resume();
        Some(cluster)
    }

    fn pg_ctl(&self, args: &str) -> bool {
        run(&format!(
            "{}/pg_ctl -D {} {args} >/dev/null",
            self.bin.display(),
            self.dir.display()
        ))
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A clean restart (`pg_ctl restart -m fast`, as a minor-version upgrade or a
    /// configuration change does): every connection is cut, and the server is back
    /// when this returns.
    pub fn restart(&self) {
        assert!(self.pg_ctl("-m fast -w restart"), "pg_ctl restart");
    }

    /// Stops the server (`-m fast`) until [`Cluster::resume`].
    pub fn pause(&self) {
        assert!(self.pg_ctl("-m fast -w stop"), "pg_ctl stop");
    }

    /// Starts the stopped server again, with the options it first started with.
    pub fn resume(&self) {
        assert!(
            self.pg_ctl(&format!(
                "-l {}/log -o '-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off' -w start",
                self.dir.display(),
                self.port,
                self.dir.display()
            )),
            "pg_ctl start"
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl("-m immediate stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
