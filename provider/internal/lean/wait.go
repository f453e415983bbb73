package lean

import (
	"context"
	"fmt"
	"time"

	"leancloud.local/provider/internal/client"
)

// pollEvery is how often the status is read while waiting.
var pollEvery = time.Second

// settled says whether a status of the written document is final: running
// (or stopped, when it asks for nothing to run), or an error naming the
// status's phase and last error; "" and nil while it is still on its way.
func settled(name string, specIndex int64, s *client.Status) (bool, error) {
	if s == nil || s.ObservedIndex < specIndex {
		return false, nil // the controller has not seen this version of the document yet
	}
	switch s.Phase {
	case "running":
		return true, nil
	case "stopped":
		return s.Desired == 0, nil
	case "failed", "invalid":
		return false, fmt.Errorf("app %s is %s: %s", name, s.Phase, lastError(s))
	}
	return false, nil
}

func lastError(s *client.Status) string {
	if s == nil || s.LastError == nil || *s.LastError == "" {
		return "no error recorded"
	}
	return *s.LastError
}

// describe is one line on where the app is, for a timeout.
func describe(s *client.Status, specIndex int64) string {
	if s == nil || s.ObservedIndex < specIndex {
		return "pending (the controller has not reported on this version of the document yet)"
	}
	return fmt.Sprintf("%s, healthy %d/%d, last error: %s", s.Phase, s.Healthy, s.Desired, lastError(s))
}

// waitSettled follows app name's status until it runs (or is stopped as
// asked), fails, or timeout passes.
func waitSettled(ctx context.Context, c *client.Client, name string, specIndex int64, timeout time.Duration) error {
	if timeout <= 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	var last *client.Status
	for {
		app, err := c.GetApp(ctx, name)
		if err != nil {
			return err
		}
		if app == nil {
			return fmt.Errorf("app %s was deleted while waiting for it to run", name)
		}
		last = app.Status
		done, err := settled(name, specIndex, last)
		if done || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for app %s to be running: %s", timeout, name, describe(last, specIndex))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for app %s: %w (%s)", name, ctx.Err(), describe(last, specIndex))
		case <-time.After(pollEvery):
		}
	}
}
