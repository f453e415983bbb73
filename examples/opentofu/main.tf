# The demo's lean cloud declared with OpenTofu: the PDF service (6) and the
# email worker (3), their components, and one tiny VM from its image: the same
# apps `npm run demo` writes to Consul KV (demo/demo-apps.ts).
#
#   npm run cloud:up && npm run example:opentofu        # builds what it needs, plans, applies
#   npm run example:opentofu -- destroy                 # removes it again
#
# or by hand, with the provider from the build cache (docs/opentofu.md).

terraform {
  required_providers {
    lean = { source = "lean-cloud/lean" }
  }
}

# The controller's address, the operator's token and the cloud's CA come from
# LEAN_CONTROLLER_ADDR, CONSUL_HTTP_TOKEN and CONSUL_CACERT (cloud.env).
provider "lean" {}

variable "pdf_wasm" {
  description = "The PDF service's component (npm run build:workloads)."
  type        = string
}

variable "email_wasm" {
  description = "The email worker's component."
  type        = string
}

variable "tiny_image_manifest" {
  description = "The tiny VM image's manifest in the image store (npm run build:images)."
  type        = string
}

variable "pdf_bucket" {
  type    = string
  default = "cloud-pdfs"
}

resource "lean_component" "pdf" {
  file = var.pdf_wasm
}

resource "lean_component" "email" {
  file = var.email_wasm
}

resource "lean_image" "tiny" {
  manifest = var.tiny_image_manifest
}

resource "lean_app" "pdf" {
  name             = "pdf"
  component        = { sha256 = lean_component.pdf.sha256 }
  allocation_count = 6
  service          = { check_path = "/health" }
  # The PDF service's requests also wait on S3 and PostgreSQL.
  instances = 4
  grants = {
    buckets     = [var.pdf_bucket]
    request_log = true
    outbound    = ["http://email.service.consul"]
  }
  # 4 instances x 192 MiB, plus 128 MiB for the host: the task's cgroup holds it to memory_mb.
  limits       = { max_request_body = "8MiB", request_timeout = "60s", instance_memory = "192MiB" }
  env          = { PDF_BUCKET = var.pdf_bucket }
  resources    = { cpu = 400, memory_mb = 896 }
  ingress      = {}
  spread       = true
  wait_timeout = "10m"
}

resource "lean_app" "email" {
  name             = "email"
  component        = { sha256 = lean_component.email.sha256 }
  allocation_count = 3
  service          = { check_path = "/health" }
  # Whom it may mail: the local cloud's SMTP delivers every message into its Maildir.
  grants       = { buckets = [var.pdf_bucket], mail = ["example.com"] }
  env          = { PDF_BUCKET = var.pdf_bucket }
  resources    = { cpu = 150, memory_mb = 384 }
  wait_timeout = "10m"
}

resource "lean_vm" "hello" {
  name         = "hello-vm"
  image        = { sha256 = lean_image.tiny.sha256 }
  vcpus        = 1
  memory       = "128MiB"
  cloud_init   = { hostname = "hello-vm" }
  ports        = { http = 8080 }
  service      = { port = "http", check_path = "/" }
  ingress      = {}
  wait_timeout = "10m"
}

data "lean_app" "pdf" {
  name = lean_app.pdf.name
}

data "lean_app" "email" {
  name = lean_app.email.name
}

data "lean_vm" "hello" {
  name = lean_vm.hello.name
}

output "apps" {
  description = "Each app's phase, healthy/desired and where its allocations listen."
  value = {
    for a in [data.lean_app.pdf, data.lean_app.email, data.lean_vm.hello] :
    a.name => { phase = a.phase, healthy = "${a.healthy}/${a.desired}", addresses = a.addresses }
  }
}
