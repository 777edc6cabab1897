//! Resource faults: host memory and CPU pressure, faults at start-up, and the GPU paths as
//! they behave on a machine without a GPU (the CI machine).

mod util;

use util::{Case, code, mock_suite, show};

fn gpu_driver_here() -> bool {
    shakedown::gpu::cuda::driver_present().is_ok()
}

#[test]
fn memory_and_cpu_pressure_under_load_pass_on_the_mock_and_are_released() {
    let case = Case::new(&mock_suite(
        &["--engine", "process"],
        r#"[load]
rate = 20
timeout = "5s"
duration = "5s"
request = { stream = true, max_tokens = 8 }

[[fault]]
kind = "memory.pressure"
bytes = "256MiB"
at = "1s"
for = "1500ms"

[[fault]]
kind = "cpu.pressure"
threads = 2
at = "3s"
for = "1s"

[expect]
recover_within = "3s"
steady_success_rate = 0.95
fail_fast = "3s"
no_orphans = true
"#,
    ));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let injects = case.events("fault.inject");
    assert_eq!(injects.len(), 2, "{injects:?}");
    let memory = injects
        .iter()
        .find(|e| e["fault"] == "memory.pressure")
        .unwrap();
    assert!(
        memory["ready"]
            .as_str()
            .unwrap()
            .starts_with("memory 268435456 "),
        "{memory}"
    );
    let clears = case.events("fault.clear");
    assert_eq!(clears.len(), 2);
    for c in &clears {
        let pid = c["released_pid"].as_i64().expect("a hog was released");
        util::wait_for(std::time::Duration::from_secs(5), "the hog to exit", || {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
        });
    }
}

fn startup_case(command: &str, within: &str) -> Case {
    Case::new(&format!(
        r#"[suite]
name = "startup"

[service]
command = {command}
env = {{ PORT = "{{port}}" }}
ready = {{ tcp = true, within = "{within}" }}
stop_grace = "500ms"

[[fault]]
kind = "cpu.pressure"
threads = 1
at = "startup"
for = "5s"
"#
    ))
}

#[test]
fn startup_fault_passes_when_the_service_fails_fast_with_a_message() {
    let case = startup_case(
        r#"["sh", "-c", "echo 'ValueError: Free memory on device is less than desired GPU memory utilization' >&2; exit 1"]"#,
        "10s",
    );
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let v = case.verdict("startup_under_fault");
    assert_eq!(v["status"], "pass", "{v:#}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("Free memory on device"),
        "{v:#}"
    );
    // The hog was started before the service and released at the end.
    let inject = &case.events("fault.inject")[0];
    let spawn = &case.events("service.spawn")[0];
    assert!(inject["t_ms"].as_f64() < spawn["t_ms"].as_f64());
    assert_eq!(case.events("fault.clear")[0]["early"], true);
}

#[test]
fn startup_fault_fails_startup_hang_when_the_service_hangs() {
    let case = startup_case(r#"["sleep", "60"]"#, "1s");
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = case.verdict("startup_under_fault");
    assert_eq!(v["status"], "fail", "{v:#}");
    assert_eq!(v["id"], "startup.hang");
}

#[test]
fn startup_fault_fails_startup_silent_when_the_service_dies_without_a_word() {
    let case = startup_case(r#"["sh", "-c", "exit 3"]"#, "10s");
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = case.verdict("startup_under_fault");
    assert_eq!(v["id"], "startup.silent", "{v:#}");
    assert_eq!(v["status"], "fail");
}

#[test]
fn gpu_hog_without_a_driver_says_so_in_one_line_and_exits_1() {
    if gpu_driver_here() {
        eprintln!(
            "skipped: a CUDA driver is present; the GPU path is measured in docs/performance.md"
        );
        return;
    }
    let out = std::process::Command::new(util::bin())
        .args(["gpu-hog", "--fraction", "0.9"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no CUDA driver found"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn gpu_suite_is_skipped_with_a_reason_where_there_is_no_driver() {
    if gpu_driver_here() {
        eprintln!("skipped: a CUDA driver is present");
        return;
    }
    let case = Case::new(
        "[suite]\nname = \"g\"\nhardware = \"gpu\"\n\n[service]\ncommand = [\"vllm\", \"serve\", \"m\", \"--port\", \"{port}\"]\n\n[[fault]]\nkind = \"gpu.preempt\"\nat = \"startup\"\nfor = \"1m\"\n",
    );
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        show(&out).contains("SKIPPED") && show(&out).contains("no CUDA driver found"),
        "{}",
        show(&out)
    );
    let report = case.report();
    assert_eq!(report["status"], "skipped");
    assert_eq!(report["verdicts"].as_array().map(Vec::len), Some(0));
    let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).unwrap();
    assert!(
        junit.contains("<skipped message=\"skipped: no CUDA driver found"),
        "{junit}"
    );
    assert!(
        case.events("service.spawn").is_empty(),
        "nothing was started"
    );
}

#[test]
fn gpu_preempt_on_a_cpu_machine_is_a_reported_fault_error() {
    if gpu_driver_here() {
        eprintln!("skipped: a CUDA driver is present");
        return;
    }
    let case = Case::new(&mock_suite(
        &[],
        "[load]\nrate = 10\nduration = \"2s\"\n\n[[fault]]\nkind = \"gpu.preempt\"\nat = \"500ms\"\nfor = \"1s\"\n",
    ));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = case.verdict("faults_injected");
    assert_eq!(v["id"], "fault.not_injected");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("no CUDA driver found"),
        "{v:#}"
    );
}

#[test]
fn doctor_reports_what_it_found() {
    let out = std::process::Command::new(util::bin())
        .arg("doctor")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for line in ["cuda driver:", "nvml:", "host:", "processes:", "network:"] {
        assert!(text.contains(line), "{text}");
    }
    // Linux lets any process be a child subreaper: that is what tracks escaped processes.
    assert!(
        text.contains("process tracking: subreaper; cgroup v2 per service: not used"),
        "{text}"
    );
}

#[test]
fn resource_fault_params_are_checked_with_locations() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("kind = \"gpu.preempt\"\nat = \"1s\"\n", "missing `for`"),
        (
            "kind = \"memory.pressure\"\nat = \"1s\"\nfor = \"1s\"\nfraction = 2.0\n",
            "fraction 2 is out of range",
        ),
        (
            "kind = \"memory.pressure\"\nat = \"1s\"\nfor = \"1s\"\nbytes = \"lots\"\n",
            "expected a size",
        ),
        (
            "kind = \"cpu.pressure\"\nat = \"1s\"\nfor = \"1s\"\nthreads = 0\n",
            "threads is 0",
        ),
    ];
    for (i, (fault, message)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("s{i}.toml"));
        std::fs::write(
            &path,
            format!("[suite]\nname = \"v\"\n\n[service]\ncommand = [\"x\", \"{{port}}\"]\n\n[[fault]]\n{fault}"),
        )
        .unwrap();
        let out = std::process::Command::new(util::bin())
            .arg("validate")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("s{i}.toml:")) && err.contains(message),
            "{err}"
        );
    }
}
