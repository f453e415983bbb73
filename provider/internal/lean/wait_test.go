package lean

import (
	"strings"
	"testing"

	"leancloud.local/provider/internal/client"
)

func TestSettledOnlyOnceTheStatusDescribesTheWrittenDocument(t *testing.T) {
	oops := "2 allocation(s) failed"
	cases := []struct {
		what   string
		status *client.Status
		done   bool
		err    string
	}{
		{"no status yet", nil, false, ""},
		{"a status of an older document", &client.Status{ObservedIndex: 9, Phase: "running"}, false, ""},
		{"running", &client.Status{ObservedIndex: 10, Phase: "running", Healthy: 2, Desired: 2}, true, ""},
		{"deploying", &client.Status{ObservedIndex: 10, Phase: "deploying"}, false, ""},
		{"stopped as asked", &client.Status{ObservedIndex: 11, Phase: "stopped", Desired: 0}, true, ""},
		{"failed", &client.Status{ObservedIndex: 10, Phase: "failed", LastError: &oops}, false, "app web is failed: 2 allocation(s) failed"},
		{"invalid, no error recorded", &client.Status{ObservedIndex: 10, Phase: "invalid"}, false, "app web is invalid: no error recorded"},
	}
	for _, c := range cases {
		done, err := settled("web", 10, c.status)
		if done != c.done || (err == nil) != (c.err == "") || (err != nil && err.Error() != c.err) {
			t.Errorf("%s: done %v, err %v", c.what, done, err)
		}
	}
}

func TestATimeoutSaysWhereTheAppIs(t *testing.T) {
	oops := "1 running allocation(s) fail their Consul checks; GET /health: 500"
	line := describe(&client.Status{ObservedIndex: 10, Phase: "unhealthy", Healthy: 1, Desired: 2, LastError: &oops}, 10)
	if !strings.Contains(line, "unhealthy, healthy 1/2, last error: 1 running allocation(s) fail") {
		t.Errorf("describe = %s", line)
	}
	if !strings.HasPrefix(describe(nil, 10), "pending") {
		t.Error("no status should read as pending")
	}
}
