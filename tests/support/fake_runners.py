"""Runner stand-ins for fault tests: shell scripts that print the python-runner format (or misbehave)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from android_bench import RunnerOutput, parse_python_runner_output

STEADY = (
    'echo "phonenas-bench 1"; echo "runtime fake 0"; i=0\n'
    'while [ $i -lt $2 ]; do echo "run_ms 2.0$i"; i=$((i+1)); done; echo "end $2"\n'
)
HANG = "sleep 30\n"
CRASH = "echo 'Segmentation fault' >&2; kill -SEGV $$\n"
GARBAGE = "head -c 300 /dev/urandom | tr -d '\\n'; echo\n"


@dataclass(frozen=True)
class ScriptRunner:
    script: Path
    name: str = field(default="script", init=False)

    @property
    def local_path(self) -> Path:
        return self.script

    def runtime_for(self, artifact: Path) -> str:
        return "fake"

    def argv(
        self,
        runner_remote: str,
        model_remote: str,
        *,
        warmup: int,
        runs: int,
        threads: int,
        warmup_s: float = 0.0,
    ) -> list[str]:
        return ["sh", runner_remote, model_remote, str(runs)]

    def parse(self, stdout: str, stderr: str, *, warmup: int, runs: int) -> RunnerOutput:
        return parse_python_runner_output(stdout, runs=runs)


def script_runner(tmp: Path, name: str, body: str) -> ScriptRunner:
    path = tmp / name
    path.write_text("#!/bin/sh\n" + body)
    return ScriptRunner(path)
