// The `lean` OpenTofu provider (see docs/opentofu.md): serves the plugin
// protocol to OpenTofu, which starts it.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"leancloud.local/provider/internal/lean"
)

// Address is the provider's source address; configurations name it in
// required_providers and the CLI configuration's dev_overrides.
const Address = "registry.opentofu.org/lean-cloud/lean"

// version is set at build time (-X main.version=…).
var version = "dev"

func main() {
	debug := flag.Bool("debug", false, "run with support for debuggers (prints TF_REATTACH_PROVIDERS)")
	flag.Parse()
	err := providerserver.Serve(context.Background(), lean.New(version), providerserver.ServeOpts{Address: Address, Debug: *debug})
	if err != nil {
		log.Fatal(err)
	}
}
