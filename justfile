# fortress tasks. `just --list` shows them; README.md explains the two that matter most.

set shell := ["bash", "-euo", "pipefail", "-c"]

python := justfile_directory() / ".venv/bin/python"

# List the recipes.
default:
    @just --list

# The main job: the whole fortress started in-process and attacked with the Gherkin suite
# (e2e/features). Options go to cucumber: `just e2e --tags @gateway`, `just e2e --name 'back
# door'`, `just e2e --fail-fast`, `just e2e --concurrency 1`. JUnit: target/e2e/junit.xml.
# `just e2e --runtime containers`: every component in its own FROM-scratch container on isolated
# networks (needs Docker; builds the static release binaries first, a few minutes cold).
[positional-arguments]
e2e *ARGS:
    if [[ " $* " == *" --runtime containers "* || " $* " == *" --runtime=containers "* ]]; then \
        RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu \
            -p smoothie-service -p coffee-service -p iap-lb-emulator -p gateway-shim -p fortress-probe; \
    fi
    cargo test -p e2e --test bdd -- "$@"

# The same fortress in the foreground on fixed ports, with the tutorial's curl tests and a fresh
# Firebase token printed; writes .fortress/stack.env once ready. Ctrl-C stops it.
[positional-arguments]
up *ARGS:
    cargo run -p e2e --bin fortress-up -- "$@"

# Every test in the workspace, including the Python interop checks.
test: python-deps
    cargo nextest run --workspace --no-fail-fast

# Python tools the tests use as independent implementations (google-auth, PyJWT) in .venv.
python-deps:
    @test -x {{python}} || python3 -m venv .venv
    @{{python}} -m pip install --quiet --disable-pip-version-check -r tools/python-requirements.txt

# Lints as CI would run them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Benchmarks (not tests), each printing its figures: a sample service (cold start, idle RSS,
# req/s), the IAP hop (load balancer + IAP + Cloud Run front end) and the gateway hop against
# nginx proxy_pass (CPU time, then user-space instructions under callgrind, which do not vary
# between runs), and the e2e suite's wall time.
bench:
    tools/bench/service.sh
    iap-lb-emulator/bench/iap.sh
    gateway-shim/bench/gateway.sh
    tools/bench/instructions.sh
    e2e/bench/e2e.sh
