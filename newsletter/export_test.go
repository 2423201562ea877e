package newsletter

import "context"

// WithCampaignMark returns ctx as a campaign batch marks it for recipient email.
func WithCampaignMark(ctx context.Context, email string, list List) context.Context {
	return context.WithValue(ctx, campaignKey, campaignMark{emails: map[string]bool{email: true}, list: list})
}

// ProgressOf is progressOf.
var ProgressOf = progressOf
