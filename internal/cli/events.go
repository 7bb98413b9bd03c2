package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/events/azurequeue"
	"github.com/blobvalet/blobvalet/internal/app"
)

const eventsUsage = `usage: blobvalet events --config FILE [--queue NAME] [--queue-endpoint URL] list [--json]
       blobvalet events --config FILE [--queue NAME] [--queue-endpoint URL] replay (--all | ID...)

list shows the webhook events that were given up on (the dead-letter queue);
replay sends them again: they go back to the events queue, where serve's
delivery takes them with a fresh count of attempts. The queues are the
configuration's: in the storage account's Queue service (--queue and
--queue-endpoint choose another), or in SQS with events.kind sqs.`

// eventsTimeout bounds one events command.
const eventsTimeout = 2 * time.Minute

// runEvents lists or replays dead-lettered webhook events.
func runEvents(ctx context.Context, _ Process, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, eventsUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (YAML), as for serve")
	queue := fs.String("queue", "", "the events queue; dead letters are in NAME"+events.DeadLetterSuffix+" (default: webhook.queue of the configuration, else "+config.DefaultEventsQueue+")")
	endpoint := fs.String("queue-endpoint", "", "Queue service URL (default: storage.queue_endpoint of the configuration, else https://ACCOUNT.queue.core.windows.net)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	rest := fs.Args()
	if *path == "" || len(rest) == 0 {
		fmt.Fprintln(stderr, eventsUsage)
		return 2
	}
	cmd, rest := rest[0], rest[1:]
	sub := flag.NewFlagSet("events "+cmd, flag.ContinueOnError)
	sub.SetOutput(stderr)
	asJSON := sub.Bool("json", false, "list: one JSON object a line, with the event's body")
	all := sub.Bool("all", false, "replay: every dead letter")
	if code, ok := parseFlags(sub, rest); !ok {
		return code
	}
	ids := sub.Args()
	switch {
	case cmd == "list" && !*all && len(ids) == 0:
	case cmd == "replay" && !*asJSON && (*all != (len(ids) > 0)):
	default:
		fmt.Fprintln(stderr, eventsUsage)
		return 2
	}
	if *queue != "" {
		if err := events.CheckName(*queue); err != nil {
			fmt.Fprintf(stderr, "blobvalet: --queue: %v\n", err)
			return 2
		}
	}

	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, eventsTimeout)
	defer cancel()
	if cfg.EventsQueue.IsSQS() {
		if *queue != "" || *endpoint != "" {
			fmt.Fprintln(stderr, "blobvalet: --queue and --queue-endpoint name an Azure queue; the configuration's events are in SQS (events.queue_url)")
			return 2
		}
		queues, _, err := app.OpenEventQueues(ctx, cfg)
		if err != nil {
			fmt.Fprintf(stderr, "blobvalet: %s\n", errs.FirstLine(err))
			return 1
		}
		return deadLetterCommand(ctx, cmd, queues, ids, *asJSON, stdout, stderr)
	}
	if *queue == "" {
		*queue = config.DefaultEventsQueue
		if ev := cfg.Events(); ev != nil {
			*queue = ev.Queue
		}
	}
	if *endpoint == "" {
		*endpoint = cfg.Storage.QueueEndpoint // the account's default unless configured
	}
	svc, err := app.NewQueueServiceClient(cfg.Storage, strings.TrimSuffix(*endpoint, "/"))
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet: queue client: %v\n", err)
		return 1
	}
	queues, err := azurequeue.NewQueues(svc, *queue)
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet: %v\n", err)
		return 1
	}
	if err := queues.Check(ctx, cfg.Storage.Account); err != nil {
		fmt.Fprintf(stderr, "blobvalet: %s\n", errs.FirstLine(err))
		return 1
	}
	return deadLetterCommand(ctx, cmd, queues.Queues, ids, *asJSON, stdout, stderr)
}

// deadLetterCommand lists (cmd list) or replays the dead letters of queues.
func deadLetterCommand(ctx context.Context, cmd string, queues *events.Queues, ids []string, asJSON bool, stdout, stderr io.Writer) int {
	if cmd == "list" {
		return listDeadLetters(ctx, queues, asJSON, stdout, stderr)
	}
	moved, err := queues.Replay(ctx, ids...)
	for _, id := range moved {
		fmt.Fprintf(stdout, "replayed %s\n", id)
	}
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet: %s\n", errs.FirstLine(err))
		return 1
	}
	if len(moved) == 0 {
		fmt.Fprintln(stdout, "no dead letters")
	}
	return 0
}

func listDeadLetters(ctx context.Context, queues *events.Queues, asJSON bool, stdout, stderr io.Writer) int {
	dead, err := queues.List(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet: %s\n", errs.FirstLine(err))
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, d := range dead {
			if err := enc.Encode(d); err != nil {
				fmt.Fprintf(stderr, "blobvalet events list: %v\n", err)
				return 1
			}
		}
		return 0
	}
	if len(dead) == 0 {
		fmt.Fprintln(stdout, "no dead letters")
		return 0
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTARGET\tATTEMPTS\tDEAD AT\tLAST ERROR")
	for _, d := range dead {
		target := d.Target
		if target == "" {
			target = "(webhook)"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", d.ID, target, d.Attempts, d.DeadAt.UTC().Format(time.RFC3339), d.Error)
	}
	w.Flush()
	return 0
}
