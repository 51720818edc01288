//! End to end against a real registry: the `notify-server` binary, a CNCF distribution
//! registry (Debian's `docker-registry`) configured with the block `notify-server
//! registry-config` prints, and `skopeo` and `curl` as clients.
//!
//! Runs only with `NOTIFY_E2E=1` (it needs `docker-registry`, `skopeo`, `curl` and `python3`).
//! The store is PostgreSQL: the server `NOTIFY_PG_URL` names or a throwaway cluster the test
//! starts; `NOTIFY_E2E_STORE_URL` names any other store (`sqlite://…`, `mongodb://…`). The
//! scenario pushes, retags, mounts, pulls by tag and digest, HEADs, pushes an index and deletes; then the server's live tags must equal what the registry itself lists,
//! its counters must match the traffic, and the registry must never have had to retry.

// Test helpers unwrap like the tests do: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TOKEN: &str = "e2e-webhook-token";
const ACCEPT: &str = "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

fn kit_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("NOTIFY_E2E_KIT") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/registry-e2e"))
        .find(|p| p.join("mkimg.py").is_file())
        .expect("shared/registry-e2e (mkimg.py) not found: set NOTIFY_E2E_KIT")
}

fn require(tool: &str) {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().unwrap().status.success();
    assert!(found, "{tool} is not installed: apt-get install -y docker-registry skopeo curl python3");
}

/// Runs a command that must succeed; returns its stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// curl: (status, headers and body as text).
fn curl(args: &[&str]) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-w", "\n%{http_code}"]).args(args);
    let out = run(&mut cmd);
    let (body, status) = out.rsplit_once('\n').unwrap();
    (status.trim().parse().unwrap(), body.to_owned())
}

fn get_json(url: &str) -> Value {
    let (status, body) = curl(&[url]);
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

fn wait_for(url: &str, what: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if Command::new("curl").args(["-sf", "-o", "/dev/null", url]).status().unwrap().success() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what} did not come up at {url}");
}

/// Kills a child when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The sum of a counter over the series whose labels contain `filter`.
fn metric(metrics: &str, name: &str, filter: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum::<f64>() as u64
}

/// Waits until no event has arrived for three seconds; returns the metrics then.
/// The digest the server's live tag `repository:tag` points at.
fn server_digest_of(server: &str, repository: &str, tag: &str) -> Value {
    let tags = get_json(&format!("{server}/api/v1/tags?repository={repository}"));
    let item = tags["items"].as_array().unwrap().iter().find(|t| t["tag"] == tag).cloned();
    item.unwrap_or_else(|| panic!("{repository}:{tag} is not live: {tags}"))["digest"].clone()
}

fn drain(server: &str) -> String {
    let mut last = (u64::MAX, Instant::now());
    let start = Instant::now();
    loop {
        let (_, text) = curl(&[&format!("{server}/metrics")]);
        let received = metric(&text, "notify_events_received_total", "");
        if received != last.0 {
            last = (received, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(3) {
            return text;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "events keep arriving");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_real_registry_and_the_server_agree() {
    if std::env::var("NOTIFY_E2E").as_deref() != Ok("1") {
        common::cluster::unavailable("set NOTIFY_E2E=1 to run the end-to-end test against a real registry");
        return;
    }
    for tool in ["docker-registry", "skopeo", "curl", "python3"] {
        require(tool);
    }
    let kit = kit_dir();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let server_port = common::cluster::free_port();
    let registry_port = common::cluster::free_port();
    let server = format!("http://127.0.0.1:{server_port}");
    let registry = format!("127.0.0.1:{registry_port}");
    let (store_url, _cluster) = match std::env::var("NOTIFY_E2E_STORE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let Some(server) = common::cluster::database_server() else { return };
            server
        }
    };

    // --- the server, and the registry configured from its own `registry-config` -----------
    let bin = env!("CARGO_BIN_EXE_notify-server");
    let common_args = [
        "--listen",
        &format!("127.0.0.1:{server_port}"),
        "--webhook-token",
        TOKEN,
        "--api-auth",
        "none",
        "--store-url",
        &store_url,
        "--request-timeout",
        "5s",
    ]
    .map(str::to_owned);
    let server_log = std::fs::File::create(w.join("server.log")).unwrap();
    let mut server_child = Guard(
        Command::new(bin)
            .arg("serve")
            .args(&common_args)
            .stdout(Stdio::null())
            .stderr(server_log)
            .spawn()
            .unwrap(),
    );
    wait_for(&format!("{server}/readyz"), "notify-server");

    let notifications = run(Command::new(bin).arg("registry-config").args(&common_args));
    assert!(notifications.contains("includereferences: true"), "{notifications}");
    let registry_yaml = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: {registry}\n{notifications}",
        w.join("data").display()
    );
    std::fs::write(w.join("registry.yml"), &registry_yaml).unwrap();
    let registry_log_path = w.join("registry.log");
    let registry_log = std::fs::File::create(&registry_log_path).unwrap();
    let _registry_child = Guard(
        Command::new("docker-registry")
            .arg("serve")
            .arg(w.join("registry.yml"))
            .stdout(registry_log.try_clone().unwrap())
            .stderr(registry_log)
            .spawn()
            .unwrap(),
    );
    wait_for(&format!("http://{registry}/v2/"), "docker-registry");

    // --- the scenario ---------------------------------------------------------------------
    let mkimg = kit.join("mkimg.py");
    run(Command::new("python3").arg(&mkimg).arg(w.join("img1")).arg("single"));
    run(Command::new("python3").arg(&mkimg).arg(w.join("img2")).arg("multi"));
    let skopeo = |args: &[&str]| {
        run(Command::new("skopeo").arg("--insecure-policy").args(args).current_dir(w));
    };
    let r = &registry;
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "oci:img1",
        &format!("docker://{r}/library/alpine-test:1.0"),
    ]);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "oci:img1",
        &format!("docker://{r}/library/alpine-test:latest"),
    ]);
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{r}/library/alpine-test:1.0"),
        &format!("docker://{r}/team/app:1.0"),
    ]);
    skopeo(&["copy", "--src-tls-verify=false", &format!("docker://{r}/team/app:1.0"), "dir:pulled"]);
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "oci:img2",
        &format!("docker://{r}/library/multi:2.0"),
    ]);
    let (status, head) =
        curl(&["-I", "-H", ACCEPT, &format!("http://{r}/v2/library/alpine-test/manifests/1.0")]);
    assert_eq!(status, 200, "{head}");
    let digest = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("docker-content-digest")))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap();
    let get = |ua: &str, reference: &str| {
        let url = format!("http://{r}/v2/library/alpine-test/manifests/{reference}");
        assert_eq!(curl(&["-o", "/dev/null", "-A", ua, "-H", ACCEPT, &url]).0, 200);
    };
    get("e2e-get-by-tag", "1.0");
    get("e2e-get-by-digest", &digest);
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{r}/library/multi:2.0"),
        &format!("docker://{r}/library/alpine-test:latest"),
    ]);
    let delete = |url: String| curl(&["-o", "/dev/null", "-X", "DELETE", &url]).0;
    assert_eq!(delete(format!("http://{r}/v2/library/alpine-test/manifests/{digest}")), 202);
    let pulled: Value =
        serde_json::from_str(&std::fs::read_to_string(w.join("pulled/manifest.json")).unwrap()).unwrap();
    let layer = pulled["layers"][0]["digest"].as_str().unwrap();
    assert_eq!(delete(format!("http://{r}/v2/team/app/blobs/{layer}")), 202);

    // --- wait until the registry's queue has drained ----------------------------------------
    drain(&server);

    // --- the server's live tags are the registry's ------------------------------------------
    let catalog = get_json(&format!("http://{r}/v2/_catalog"));
    let mut registry_tags = BTreeMap::new();
    for name in catalog["repositories"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        let list = get_json(&format!("http://{r}/v2/{name}/tags/list"));
        let mut tags: Vec<String> = list["tags"]
            .as_array()
            .map(|t| t.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        tags.sort();
        registry_tags.insert(name.to_owned(), tags);
    }
    let repos = get_json(&format!("{server}/api/v1/repositories"));
    let mut server_tags = BTreeMap::new();
    for repo in repos["items"].as_array().unwrap() {
        let name = repo["repository"].as_str().unwrap();
        assert_eq!(repo["registry"], r.as_str(), "named after the Host clients used");
        let tags = get_json(&format!("{server}/api/v1/tags?registry={r}&repository={name}"));
        let tags: Vec<(String, String)> = tags["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["tag"].as_str().unwrap().to_owned(), t["digest"].as_str().unwrap().to_owned()))
            .collect();
        for (tag, digest) in &tags {
            let (status, head) =
                curl(&["-I", "-H", ACCEPT, &format!("http://{r}/v2/{name}/manifests/{tag}")]);
            assert_eq!(status, 200, "{name}:{tag}");
            assert!(
                head.to_ascii_lowercase().contains(&format!("docker-content-digest: {digest}")),
                "{name}:{tag}: {head}"
            );
        }
        server_tags.insert(name.to_owned(), tags.into_iter().map(|(t, _)| t).collect::<Vec<_>>());
    }
    // The registry keeps listing a repository whose tags are all gone; so does the server.
    assert_eq!(server_tags, registry_tags);
    assert_eq!(registry_tags["library/alpine-test"], ["latest"]);
    assert_eq!(registry_tags["team/app"], ["1.0"]);
    assert_eq!(registry_tags["library/multi"], ["2.0"]);

    // --- counters match the traffic ---------------------------------------------------------
    // (The HEADs above are traffic too: wait for their events.)
    let metrics = drain(&server);
    let mut log = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get_json(&format!("{server}/api/v1/events?limit=1000{cursor}"));
        log.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let applied = metric(&metrics, "notify_events_received_total", "outcome=\"applied\"");
    assert_eq!(applied as usize, log.len(), "every event applied once");
    for outcome in ["duplicate", "quarantined", "failed"] {
        assert_eq!(
            metric(&metrics, "notify_events_received_total", &format!("outcome=\"{outcome}\"")),
            0,
            "{outcome}"
        );
    }
    assert_eq!(metric(&metrics, "notify_webhook_rejected_total", ""), 0);
    let count = |f: &dyn Fn(&Value) -> bool| log.iter().filter(|e| f(e)).count();
    assert_eq!(count(&|e| e["user_agent"] == "e2e-get-by-digest" && e["counted"] == true), 1);
    assert_eq!(
        count(&|e| e["user_agent"] == "e2e-get-by-tag" && e["tag"] == "1.0" && e["counted"] == true),
        1
    );
    assert_eq!(count(&|e| e["method"] == "HEAD" && e["counted"] == true), 0, "HEADs are not counted");
    assert_eq!(
        count(&|e| e["action"] == "mount"),
        count(&|e| e["action"] == "mount" && e["repository"] != "library/multi")
    );
    assert!(count(&|e| e["action"] == "mount") >= 1, "the cross-repository copy mounts");
    assert_eq!(count(&|e| e["action"] == "delete" && e["digest"] == layer), 1, "the blob delete");
    for repo in ["library/alpine-test", "team/app", "library/multi"] {
        let stats = get_json(&format!("{server}/api/v1/repositories/stats?repository={repo}"));
        let pushes = count(&|e| e["repository"] == repo && e["action"] == "push" && e["counted"] == true);
        let pulls = count(&|e| e["repository"] == repo && e["action"] == "pull" && e["counted"] == true);
        assert_eq!(stats["push_count"], pushes as u64, "{repo}");
        assert_eq!(stats["pull_count"], pulls as u64, "{repo}");
    }
    // --- when each image was last used, and which are unused -------------------------------
    let at = |v: &Value| v.as_str().map(|t| t.parse::<notify_core::Timestamp>().unwrap());
    let every = get_json(&format!("{server}/api/v1/unused?since=9999-01-01T00:00:00Z"));
    let every = every["items"].as_array().unwrap();
    assert_eq!(every.len(), 3, "{every:?}");
    for item in every {
        let used = |e: &Value| {
            e["action"] == "pull"
                && e["counted"] == true
                && e["repository"] == item["repository"]
                && (e["tag"] == item["tag"] || e["digest"] == item["digest"])
        };
        let expected = log.iter().filter(|e| used(e)).filter_map(|e| at(&e["timestamp"])).max();
        assert_eq!(at(&item["last_pulled"]), expected, "last pull of {item}");
    }
    let app = every.iter().find(|i| i["repository"] == "team/app").unwrap();
    let app_pulled = at(&app["last_pulled"]).expect("team/app:1.0 was pulled by skopeo");
    let unused = get_json(&format!("{server}/api/v1/unused?since={app_pulled}"));
    let expected: Vec<&Value> = every
        .iter()
        .filter(|i| {
            at(&i["pushed_at"]).unwrap() < app_pulled && at(&i["last_pulled"]).is_none_or(|t| t < app_pulled)
        })
        .collect();
    assert!(!expected.contains(&app), "pulled at the instant itself: used");
    assert_eq!(unused["items"].as_array().unwrap().iter().collect::<Vec<_>>(), expected);

    let deleted = get_json(&format!("{server}/api/v1/tags/history?repository=library/alpine-test&tag=1.0"));
    assert_eq!(deleted["items"][0]["digest"], Value::Null, "1.0 went with its manifest");

    // --- where a tag pointed, and the inventory of a namespace or a tag ---------------------
    // latest was pushed, then moved by the copy of one image of library/multi:2.0.
    let history_url = format!("{server}/api/v1/tags/history?repository=library/alpine-test&tag=latest");
    let history = get_json(&history_url);
    let history = history["items"].as_array().unwrap();
    assert!(history.len() >= 2, "{history:?}");
    let first = history.last().unwrap();
    let pushed = at(&first["at"]).unwrap();
    let as_of = |t: notify_core::Timestamp| {
        let page = get_json(&format!("{history_url}&at={t}&limit=1000"));
        page["items"].as_array().unwrap().clone()
    };
    assert_eq!(as_of(pushed), std::slice::from_ref(first), "at the first push");
    assert_eq!(as_of(notify_core::Timestamp::from_unix_micros(pushed.unix_micros() - 1)), [] as [Value; 0]);
    assert_eq!(&as_of(at(&history[0]["at"]).unwrap()), history, "at the last change");
    let live = server_digest_of(&server, "library/alpine-test", "latest");
    assert_eq!(history[0]["digest"], live, "the last change is where the tag points");
    assert_ne!(first["digest"], live, "moved by the copy");

    let inventory = |query: &str| -> Vec<String> {
        let answer = curl(&[&format!("{server}/api/v1/inventory.ndjson?{query}")]);
        assert_eq!(answer.0, 200, "{query}");
        let names = answer.1.lines().map(|l| serde_json::from_str::<Value>(l).unwrap());
        names
            .map(|i| format!("{}:{}", i["repository"].as_str().unwrap(), i["tag"].as_str().unwrap()))
            .collect()
    };
    let from_registry = |keep: &dyn Fn(&str, &str) -> bool| -> Vec<String> {
        let every =
            registry_tags.iter().flat_map(|(n, tags)| tags.iter().map(move |t| (n.clone(), t.clone())));
        every.filter(|(n, t)| keep(n, t)).map(|(n, t)| format!("{n}:{t}")).collect()
    };
    assert_eq!(inventory("prefix=library/"), from_registry(&|n, _| n.starts_with("library/")));
    assert_eq!(inventory("q=app"), from_registry(&|n, _| n.contains("app")));
    assert_eq!(inventory("tag=latest"), from_registry(&|_, t| t == "latest"));
    assert_eq!(inventory("prefix=team/&tag=1.0"), ["team/app:1.0"]);

    // --- the registry never had to retry ----------------------------------------------------
    let registry_log = std::fs::read_to_string(&registry_log_path).unwrap();
    for sign in ["retrying", "error writing event", "backing off", "unaccepted"] {
        assert!(
            !registry_log.to_ascii_lowercase().contains(sign),
            "registry log shows {sign:?}:\n{registry_log}"
        );
    }

    // --- graceful shutdown --------------------------------------------------------------------
    run(Command::new("kill").args(["-TERM", &server_child.0.id().to_string()]));
    let status = server_child.0.wait().unwrap();
    assert!(status.success(), "notify-server exited with {status} after SIGTERM");
}
