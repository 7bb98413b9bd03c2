package config

// DefaultQueueEndpoint returns the Queue service URL of an Azure storage
// account: https://ACCOUNT.queue.core.windows.net.
func DefaultQueueEndpoint(account string) string {
	return "https://" + account + ".queue.core.windows.net"
}
