#!/usr/bin/env bash
# Deploy the four functions with Terraform: check inputs, package, init, plan, apply, print outputs.
#
# Usage: deploy/deploy.sh [--yes] [path/to/file.tfvars]
#
#   --yes   apply the plan without asking (for CI); without it, the plan is shown and confirmed.
#   The tfvars file defaults to $TFVARS, else terraform/terraform.tfvars when it exists.
#
# Environment: PYTHON (default .venv/bin/python, else python3), DIST_DIR (default dist),
# TF_DIR (default terraform). Secret values are never read or passed here: add them with
# `gcloud secrets versions add` (the script says which are missing and how).
set -euo pipefail

readonly REQUIRED_VARIABLES=(project_id region webflow_site_id webflow_collection_id)
# Secret Manager secret names, as terraform/main.tf (local.secrets) builds them from name_prefix.
readonly SECRET_SUFFIXES=(api-token create-items-api-keys update-items-api-keys publish-api-keys webhook-secret intake-api-keys sync-api-keys)
readonly SECRET_ENV_NAMES=(WEBFLOW_API_TOKEN CREATE_ITEMS_API_KEYS UPDATE_ITEMS_API_KEYS PUBLISH_API_KEYS WEBFLOW_WEBHOOK_SECRET INTAKE_API_KEYS SYNC_API_KEYS)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly repo_root

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'deploy: %s\n' "$*" >&2
  exit 2
}

usage() {
  sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# Print the value of a simple `name = "value"` (or unquoted) assignment in a tfvars file.
tfvar() {
  local name="$1" file="$2"
  sed -n -E "s/^[[:space:]]*${name}[[:space:]]*=[[:space:]]*\"?([^\"#]*[^\"#[:space:]])\"?[[:space:]]*(#.*)?$/\\1/p" "$file" | tail -n 1
}

auto_approve=false
tfvars=""
while (($# > 0)); do
  case "$1" in
    -y | --yes) auto_approve=true ;;
    -h | --help) usage ;;
    -*) die "unknown option: $1" ;;
    *)
      [[ -z "$tfvars" ]] || die "only one tfvars file may be given"
      tfvars="$1"
      ;;
  esac
  shift
done

# --- inputs -------------------------------------------------------------------------------------
tf_dir="${TF_DIR:-$repo_root/terraform}"
[[ -d "$tf_dir" ]] || die "Terraform module not found: $tf_dir"
tfvars="${tfvars:-${TFVARS:-}}"
if [[ -z "$tfvars" && -f "$tf_dir/terraform.tfvars" ]]; then
  tfvars="$tf_dir/terraform.tfvars"
  log "using $tfvars"
fi
[[ -n "$tfvars" ]] || die "no tfvars file given; usage: deploy/deploy.sh [--yes] path/to/file.tfvars (example: terraform/terraform.tfvars.example)"
[[ -f "$tfvars" ]] || die "tfvars file not found: $tfvars"
tfvars="$(cd "$(dirname "$tfvars")" && pwd)/$(basename "$tfvars")"

missing_tools=()
for tool in terraform gcloud; do
  command -v "$tool" >/dev/null 2>&1 || missing_tools+=("$tool")
done
((${#missing_tools[@]} == 0)) || die "missing tool(s): ${missing_tools[*]} (install them and retry)"

missing_variables=()
for name in "${REQUIRED_VARIABLES[@]}"; do
  [[ -n "$(tfvar "$name" "$tfvars")" ]] || missing_variables+=("$name")
done
if ((${#missing_variables[@]} > 0)); then
  die "$tfvars is missing required variable(s): ${missing_variables[*]} (see terraform/terraform.tfvars.example)"
fi

project_id="$(tfvar project_id "$tfvars")"
name_prefix="$(tfvar name_prefix "$tfvars")"
name_prefix="${name_prefix:-webflow}"

python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$repo_root/.venv/bin/python" ]]; then
    python="$repo_root/.venv/bin/python"
  else
    python="python3"
  fi
fi
dist_dir="${DIST_DIR:-$repo_root/dist}"
mkdir -p "$dist_dir"
dist_dir="$(cd "$dist_dir" && pwd)"

tf() { terraform -chdir="$tf_dir" "$@"; }
tf_vars=(-var-file="$tfvars" -var="source_archive_dir=$dist_dir")
plan_file="$tf_dir/.terraform/deploy.tfplan"

# --- package ------------------------------------------------------------------------------------
log "packaging the functions into $dist_dir"
"$python" "$repo_root/deploy/package.py" --out "$dist_dir"

# --- terraform ----------------------------------------------------------------------------------
log "terraform init"
tf init -input=false

# The functions cannot start without a version in each secret. Secrets that do not exist yet are
# created first (empty, with the APIs they need); then every secret must have an enabled version.
secret_state() {
  local version
  if ! version="$(gcloud secrets versions list "$1" --project="$project_id" \
    --filter='state=ENABLED' --limit=1 --format='value(name)' 2>/dev/null)"; then
    echo absent
  elif [[ -z "$version" ]]; then
    echo empty
  else
    echo ready
  fi
}

confirm() {
  [[ "$auto_approve" == true ]] && return 0
  [[ -t 0 ]] || die "not a terminal: review the plan and rerun with --yes to $1"
  local answer
  read -r -p "$1? [y/N] " answer
  [[ "$answer" =~ ^[Yy]([Ee][Ss])?$ ]] || die "stopped: did not $1"
}

secret_ids=()
for suffix in "${SECRET_SUFFIXES[@]}"; do
  secret_ids+=("${name_prefix}-${suffix}")
done

# Prints "<secret id>:<state>" for each secret.
secret_states() {
  local secret_id
  for secret_id in "${secret_ids[@]}"; do
    printf '%s:%s\n' "$secret_id" "$(secret_state "$secret_id")"
  done
}

states="$(secret_states)"
if [[ "$states" == *:absent* ]]; then
  log "creating the Secret Manager secrets (empty)"
  tf plan -input=false "${tf_vars[@]}" -out="$plan_file" \
    -target='google_project_service.this' -target='google_secret_manager_secret.this'
  confirm "create the secrets"
  tf apply -input=false "$plan_file"
  states="$(secret_states)"
fi

not_ready=()
for index in "${!secret_ids[@]}"; do
  [[ $'\n'"$states"$'\n' == *$'\n'"${secret_ids[$index]}:ready"$'\n'* ]] ||
    not_ready+=("${secret_ids[$index]}:${SECRET_ENV_NAMES[$index]}")
done
if ((${#not_ready[@]} > 0)); then
  printf 'deploy: these secrets have no enabled version yet; add one each, then run this again:\n' >&2
  for entry in "${not_ready[@]}"; do
    printf "  printf '%%s' \"\$%s\" | gcloud secrets versions add %s --project=%s --data-file=-\n" \
      "${entry#*:}" "${entry%%:*}" "$project_id" >&2
  done
  exit 3
fi

log "terraform plan"
tf plan -input=false "${tf_vars[@]}" -out="$plan_file"

confirm "apply this plan"

log "terraform apply"
tf apply -input=false "$plan_file"
rm -f "$plan_file"

log "outputs"
tf output
