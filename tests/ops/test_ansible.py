"""The provisioning: ansible-lint at the production profile, check mode of site.yml on this machine,
and the Ansible templates' derivations compared with expected files and with pymm.ops.host."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from pymm.ops.host import irq_map, kernel_cmdline, load_host

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "ansible"
ROLES = ANSIBLE / "roles"
EXPECTED = Path(__file__).parent / "expected"
HOSTS = {
    "example": REPO / "hw" / "hosts" / "example.yml",
    "kernel-udp": REPO / "hw" / "hosts" / "kernel-udp.yml",
}


def _tool(name: str) -> str:
    """The ansible executable next to this interpreter (the ops extra), or skip/fail with the reason."""
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        msg = f"{name} not installed (pip install -e '.[ops]')"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def _role_vars(role: str, host_file: Path) -> dict[str, Any]:
    """The role's defaults resolved against a host description, as Ansible (>= 2.19) resolves them.

    A value that is one ``{{ expression }}`` keeps the expression's type (a cpulist "0,4" stays a
    string); any other template renders to a string.
    """
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    out: dict[str, Any] = {"pymm_host": yaml.safe_load(host_file.read_text()), "playbook_dir": str(ANSIBLE)}
    for key, value in yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()).items():
        single = re.fullmatch(r"\{\{(.*)\}\}", value.strip()) if isinstance(value, str) else None
        if single and "{{" not in single.group(1):
            out[key] = env.compile_expression(single.group(1))(**out)
        elif isinstance(value, str):
            out[key] = env.from_string(value).render(**out)
        else:
            out[key] = value
    return out


def _render(role: str, template: str, host_file: Path) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLES / role / "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,  # as Ansible renders templates
    )
    return env.get_template(template).render(**_role_vars(role, host_file))


@pytest.mark.parametrize("name", HOSTS)
def test_kernel_cmdline_template_matches_expected_and_python(name):
    rendered = _render("pymm_tuning", "kernel_cmdline.j2", HOSTS[name])
    # the role uses it as `lookup('template', 'kernel_cmdline.j2') | trim`
    assert rendered.strip() + "\n" == (EXPECTED / f"{name}.cmdline").read_text()
    assert rendered.split() == kernel_cmdline(load_host(HOSTS[name]))


@pytest.mark.parametrize("name", HOSTS)
def test_irq_map_template_matches_expected_and_python(name):
    rendered = _render("pymm_nic", "irq_map.j2", HOSTS[name])
    assert rendered == (EXPECTED / f"{name}.irqmap").read_text()
    pairs = [(irq, int(core)) for irq, core in (line.split() for line in rendered.splitlines())]
    assert pairs == irq_map(load_host(HOSTS[name]))


def test_ci_host_description_is_valid_and_agrees():
    ci = Path(__file__).parent / "hosts" / "ci.yml"
    assert _render("pymm_tuning", "kernel_cmdline.j2", ci).split() == kernel_cmdline(load_host(ci))


def test_ansible_lint_production_profile_is_clean():
    r = subprocess.run(
        [_tool("ansible-lint"), "--offline", "--profile", "production", "--nocolor"],
        cwd=ANSIBLE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Profile 'production' was required, and it passed" in r.stdout + r.stderr


def test_site_check_mode_on_localhost_completes():
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    r = subprocess.run(
        [
            _tool("ansible-playbook"),
            "-i",
            str(REPO / "tests" / "ops" / "inventory"),
            "-c",
            "local",
            "--check",
            "--diff",
            "site.yml",
        ],
        cwd=ANSIBLE,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "failed=0" in out and "unreachable=0" in out
    # the derived files were rendered, with this host's values
    assert "+virtio2-input.0 0" in out
    assert "--domainNumber=0 --network_transport=UDPv4" in out


def test_onload_role_refuses_to_run_without_vendor_packages():
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    r = subprocess.run(
        [
            _tool("ansible-playbook"),
            "-i",
            str(REPO / "tests" / "ops" / "inventory"),
            "-c",
            "local",
            "--check",
            "--tags",
            "onload",
            "-e",
            f"pymm_host_file={HOSTS['example']}",
            "site.yml",
        ],
        cwd=ANSIBLE,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-4000:]
    assert "set pymm_onload_packages to the AMD packages (.deb)" in out
