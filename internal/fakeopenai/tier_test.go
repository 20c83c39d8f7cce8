package fakeopenai_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	openai "github.com/sashabaranov/go-openai"

	"github.com/tarjama/tarjama/internal/fakeopenai"
)

func withTier(req openai.ChatCompletionRequest, tier openai.ServiceTier) openai.ChatCompletionRequest {
	req.ServiceTier = tier
	return req
}

func TestServiceTierEchoed(t *testing.T) {
	tests := []struct {
		name string
		tier openai.ServiceTier
		want openai.ServiceTier
	}{
		{"none", "", openai.ServiceTierDefault},
		{"flex", openai.ServiceTierFlex, openai.ServiceTierFlex},
		{"default", openai.ServiceTierDefault, openai.ServiceTierDefault},
		{"auto", openai.ServiceTierAuto, openai.ServiceTierDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, fakeopenai.Options{})
			client, _ := newClient(t, srv, "")
			resp, err := client.CreateChatCompletion(context.Background(), withTier(translationRequest("ع", "ن"), tt.tier))
			if err != nil {
				t.Fatalf("CreateChatCompletion: %v", err)
			}
			if resp.ServiceTier != tt.want {
				t.Errorf("reply service_tier=%q, want %q", resp.ServiceTier, tt.want)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests recorded, want 1", len(reqs))
			}
			if got, want := reqs[0].ServiceTier, string(tt.tier); got != want {
				t.Errorf("Recorded.ServiceTier=%q, want %q", got, want)
			}
		})
	}
}

func TestUnknownServiceTier(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{})
	client, _ := newClient(t, srv, "")
	_, err := client.CreateChatCompletion(context.Background(), withTier(translationRequest("ع", "ن"), "cheap"))
	if apiErr := apiError(t, err); apiErr.HTTPStatusCode != http.StatusBadRequest {
		t.Errorf("status=%d, want 400", apiErr.HTTPStatusCode)
	}
}

func TestFlexUnavailable(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{})
	srv.Script(fakeopenai.Rule{Times: 2, Fault: fakeopenai.Fault{FlexUnavailable: true, RetryAfter: "1"}})
	client, rt := newClient(t, srv, "")
	flex := withTier(translationRequest("ع", "ن"), openai.ServiceTierFlex)

	// A request without flex passes the rule by, and does not use it up.
	for _, tier := range []openai.ServiceTier{"", openai.ServiceTierDefault} {
		if _, err := client.CreateChatCompletion(context.Background(), withTier(flex, tier)); err != nil {
			t.Fatalf("tier %q: CreateChatCompletion: %v", tier, err)
		}
	}
	for i := range 2 {
		_, err := client.CreateChatCompletion(context.Background(), flex)
		apiErr := apiError(t, err)
		if apiErr.HTTPStatusCode != http.StatusTooManyRequests || apiErr.Code != "resource_unavailable" ||
			apiErr.Type != "invalid_request_error" || apiErr.Message != "Resource Unavailable" {
			t.Errorf("flex request %d: error = %d %v %q %q, want 429 resource_unavailable invalid_request_error %q",
				i, apiErr.HTTPStatusCode, apiErr.Code, apiErr.Type, apiErr.Message, "Resource Unavailable")
		}
		if _, h := rt.last(); h.Get("Retry-After") != "1" {
			t.Errorf("flex request %d: Retry-After=%q, want the fault's header", i, h.Get("Retry-After"))
		}
	}
	resp, err := client.CreateChatCompletion(context.Background(), flex)
	if err != nil {
		t.Fatalf("flex request after the rule played out: %v", err)
	}
	if resp.ServiceTier != openai.ServiceTierFlex {
		t.Errorf("reply service_tier=%q, want flex", resp.ServiceTier)
	}

	var tiers []string
	var statuses []int
	for _, r := range srv.Requests() {
		tiers = append(tiers, r.ServiceTier)
		statuses = append(statuses, r.Status)
	}
	if diff := cmp.Diff([]string{"", "default", "flex", "flex", "flex"}, tiers); diff != "" {
		t.Errorf("recorded tiers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{200, 200, 429, 429, 200}, statuses); diff != "" {
		t.Errorf("recorded statuses (-want +got):\n%s", diff)
	}
	if st := srv.Stats(); st.OK != 3 || st.ByStatus[429] != 2 {
		t.Errorf("Stats() OK=%d 429s=%d, want 3 and 2", st.OK, st.ByStatus[429])
	}
	srv.Verify(t)
}

func TestFlexUnavailableRuleOrder(t *testing.T) {
	// A flex-only rule first does not shadow the rules after it for other
	// requests.
	srv := newServer(t, fakeopenai.Options{})
	srv.Script(
		fakeopenai.Rule{Times: 1, Fault: fakeopenai.Fault{FlexUnavailable: true}},
		fakeopenai.Rule{Times: 1, Fault: fakeopenai.Fault{Status: 500}},
	)
	client, rt := newClient(t, srv, "")
	req := translationRequest("ع", "ن")
	var got []int
	for _, tier := range []openai.ServiceTier{"", openai.ServiceTierFlex, openai.ServiceTierFlex} {
		client.CreateChatCompletion(context.Background(), withTier(req, tier)) //nolint:errcheck // the status is checked
		status, _ := rt.last()
		got = append(got, status)
	}
	if diff := cmp.Diff([]int{500, 429, 200}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	srv.Verify(t)
}

func TestFlexUnavailableUnusedIsReported(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{})
	srv.Script(fakeopenai.Rule{Fault: fakeopenai.Fault{FlexUnavailable: true}})
	client, _ := newClient(t, srv, "")
	if _, err := client.CreateChatCompletion(context.Background(), translationRequest("ع", "ن")); err != nil {
		t.Fatalf("CreateChatCompletion: %v", err)
	}
	var tb fakeTB
	srv.Verify(&tb)
	if len(tb.errs) != 1 {
		t.Errorf("Verify reported %q, want the flex rule that never fired", tb.errs)
	}
}

func TestResourceUnavailableDefaults(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{})
	srv.Script(fakeopenai.Rule{Times: 1, Fault: fakeopenai.Fault{Status: 429, Code: "resource_unavailable"}})
	client, _ := newClient(t, srv, "")
	_, err := client.CreateChatCompletion(context.Background(), translationRequest("ع", "ن"))
	apiErr := apiError(t, err)
	if apiErr.Code != "resource_unavailable" || apiErr.Type != "invalid_request_error" || apiErr.Message != "Resource Unavailable" {
		t.Errorf("error = %v %q %q, want the flex tier's defaults", apiErr.Code, apiErr.Type, apiErr.Message)
	}
	rec := srv.Requests()[0]
	var body map[string]any
	if err := json.Unmarshal(rec.Body, &body); err != nil {
		t.Fatal(err)
	}
	if _, ok := body["service_tier"]; ok || rec.ServiceTier != "" {
		t.Errorf("service_tier sent (%v, recorded %q), want none", body["service_tier"], rec.ServiceTier)
	}
}
