// Generates generated/nomad/ (TypeScript types and a typed client) from the
// pinned Nomad api package. The api version is the one infra/binaries/nomad
// pins (see the comment there); the other versions repeat what that module
// resolves, so the types match the agent we run.
module leancloud.local/tools/nomad-client-gen

go 1.25.8

require github.com/hashicorp/nomad/api v0.0.0-20260324203407-b27b0c2e019a

require (
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc // indirect
	github.com/go-viper/mapstructure/v2 v2.5.0 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/hashicorp/cronexpr v1.1.3 // indirect
	github.com/hashicorp/errwrap v1.1.0 // indirect
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
	github.com/hashicorp/go-multierror v1.1.1 // indirect
	github.com/hashicorp/go-rootcerts v1.0.2 // indirect
	github.com/mitchellh/go-homedir v1.1.0 // indirect
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2 // indirect
	github.com/stretchr/testify v1.11.1 // indirect
)
