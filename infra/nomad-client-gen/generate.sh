#!/usr/bin/env bash
# Regenerates generated/nomad/ (types and client for the Nomad HTTP API) from
# the pinned Nomad api package, then formats it like the rest of the repo.
# Usage: npm run gen:nomad-client   (or: bash infra/nomad-client-gen/generate.sh)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
go=$(command -v go || echo /usr/local/go/bin/go)

cd "$here"
"$go" run . "$repo/generated/nomad"
cd "$repo"
npx prettier --log-level warn --write generated/nomad
