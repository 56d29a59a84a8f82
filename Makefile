# faas-logs: `make help` lists the targets. CI (.ci/run) calls `make lint` and `make test`.
CARGO ?= cargo

.DEFAULT_GOAL := help
.PHONY: help fmt lint test build bench-core reliability-core run run-memory-demo demo bench-journald bench-kubernetes bench-loki reliability-journald reliability-kubernetes reliability-loki fuzz helm-lint

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

fmt: ## Format the code
	$(CARGO) fmt --all

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --all-features --locked -- -D warnings

test: ## Run every test of every crate (needs the apt packages listed in README.md)
	$(CARGO) test --workspace --all-features --locked

build: ## Build the release binaries into target/release/
	$(CARGO) build --workspace --release --locked

bench-core: ## Core handler benchmark: messages/s over loopback, peak RSS, memory per idle follow stream
	$(CARGO) bench -p logs-api --features test-util --bench throughput

reliability-core: ## 1,000 follow streams for 60 s + slow/stalled clients, in-memory backend (docs/reliability.md)
	$(CARGO) bench -p logs-api --features test-util --bench reliability

run-memory-demo: ## Serve generated sample logs from memory on :8080 (no backend needed)
	$(CARGO) run -p logs-api --bin logs-demo

run: ## Serve function logs from this host's journal (/var/log/journal, /run/log/journal) on :8082
	$(CARGO) run --release --locked -p logs-journald -- --port 8082

demo: ## Write sample function logs into a private journal with systemd-journal-remote and serve them on :8080
	bash crates/logs-journald/tools/demo.sh

bench-journald: ## journald backend vs journalctl on a 1,000,000-entry journal (docs/backends/journald.md)
	$(CARGO) bench -p logs-journald --bench journal

bench-kubernetes: ## Kubernetes backend through the simulator: 10 pods x 100,000 lines, 1,000 follow streams
	$(CARGO) bench -p logs-kubernetes --bench kube

bench-loki: ## Loki backend through the Loki simulator: history, follow latency, Loki requests/s and RSS per follower (docs/backends/loki.md)
	$(CARGO) bench -p logs-loki --bench loki

reliability-journald: ## 1,000 follow streams for 60 s + slow/stalled clients, journald backend over real journal files
	$(CARGO) bench -p logs-journald --bench reliability

reliability-kubernetes: ## 1,000 follow streams for 60 s + slow/stalled clients, Kubernetes backend over the API simulator
	$(CARGO) bench -p logs-kubernetes --bench reliability

reliability-loki: ## 1,000 follow streams for 60 s + slow/stalled clients, Loki backend over the simulator
	$(CARGO) bench -p logs-loki --bench reliability

fuzz: ## Fuzz the query parser and the LogQL builder for 5 minutes each (needs nightly and cargo-fuzz)
	cd fuzz && $(CARGO) +nightly fuzz run parse_query -- -max_total_time=300
	cd fuzz && $(CARGO) +nightly fuzz run logql_selector -- -max_total_time=300

helm-lint: ## helm lint + template of the chart (needs helm on PATH; not in Debian)
	helm lint deploy/helm/faas-logs
	helm template t deploy/helm/faas-logs --set namespaces='{openfaas-fn,staging-fn}' > /dev/null
