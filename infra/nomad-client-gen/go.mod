// Generates generated/nomad/ (TypeScript types and a typed client) from the
// pinned Nomad api package. The api version is the one infra/binaries/nomad
// pins (see the comment there); the other versions repeat what that module
// resolves, so the types match the agent we run.
module leancloud.local/tools/nomad-client-gen

go 1.25.8

require github.com/hashicorp/nomad/api v0.0.0-20240213164230-c364cb57298d

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/gorilla/websocket v1.5.0 // indirect
	github.com/hashicorp/cronexpr v1.1.2 // indirect
	github.com/hashicorp/errwrap v1.0.0 // indirect
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
	github.com/hashicorp/go-multierror v1.1.1 // indirect
	github.com/hashicorp/go-rootcerts v1.0.2 // indirect
	github.com/mitchellh/go-homedir v1.1.0 // indirect
	github.com/mitchellh/mapstructure v1.5.0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	golang.org/x/exp v0.0.0-20230728194245-b0cb94b80691 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
