package main

import (
	"fmt"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/origin"
)

// What the config file `patchnet init` writes says of each key
// (configfile.go renders it).

// configHelp says what each key of node.Config does, by its dotted TOML
// path; a key inside a table that a map holds (cosign.publishers."*",
// respond.zones.NAME) has "*" for the map's key. Tables have an entry too.
// The default is appended from node.DefaultConfig unless the text gives it
// ("Default") or the key has none ("Required"). TestInitHelpCoversConfig
// fails for a key of node.Config without an entry here, and for an entry
// that names no key.
var configHelp = map[string]string{
	"state":         "The node's state directory: its database, the install journal, kept before-states and fetched artifacts; node.key and node.crt are there by default. Required.",
	"in_memory":     "Keep catch-up items in memory instead of STATE/node (tests, the demo). The rollback floor, pending installs and co-signing records stay on disk whatever this says.",
	"key":           "The node's private key, also its libp2p identity, as `patchnet cert request` writes it. Default: STATE/node.key.",
	"cert":          "The node's certificate chain (leaf, then zone CA), as `patchnet ca sign` writes it. Its role decides what the node does and must match the command that runs it. Default: STATE/node.crt.",
	"roots":         "The pinned root CA certificates (PEM files); several federate organisations. Required.",
	"crl":           "CRL files (PEM or DER) loaded at start: the zone CA's (zone.crl) and the root's (root.crl). More arrive by gossip and catch-up; with require_crl, no signature counts until current CRLs of the signer's zone CA and root are held.",
	"zone":          "The zone this node joins; it must be the zone its certificate names. Required.",
	"threshold":     "k: how many distinct supernodes of the zone must co-sign an update before an agent accepts it. One key never counts twice.",
	"publishers":    "How many distinct publisher signatures an update needs.",
	"require_crl":   "Count a signature only while current CRLs of its signer's zone CA and root are held: a fresh node, or one an attacker keeps from its CRLs, cannot tell a revoked supernode from a good one.",
	"sysroot":       `The filesystem root an agent inventories and installs into: "/" is this host, another directory a container image, chroot or sandbox.`,
	"fetch_timeout": fmt.Sprintf("Bounds fetching one artifact, from peers or the vendor URL; at most %s.", shortDuration(node.MaxFetchTimeout)),
	"fetch_retry": fmt.Sprintf("How long an agent waits after a failed artifact fetch before it tries again; the wait doubles per attempt, up to %s, for at most %d attempts.",
		shortDuration(node.MaxFetchRetryBackoff), node.MaxFetchAttempts),

	"install":                   "How an agent installs: pinned installer binaries and archive prefixes.",
	"install.tool_pins":         "Installer binaries (dpkg, rpm, apk, sh, …) by absolute path, each with its SHA-256 (hex), checked before every run; a mismatch refuses the install and raises an alert. `patchnet apply --pin-tools` prints this host's; re-pin after upgrading dpkg or rpm. Default: none.",
	"install.require_tool_pins": "Refuse to run an installer binary without a pin; an agent with no pin at all refuses to start.",
	"install.prefixes":          "Where archive updates unpack: package name = absolute directory (the archive method has no other target). Default: none.",
	"retention":                 "What the install journal's kept files (previous package versions, replaced archive trees, artifacts, finished downloads) are pruned to, after every install and at start-up. Each deletion is listed in a journalled prune record first; `patchnet history` shows each install's before-state as kept or pruned, and rolling back a pruned one is refused naming the record.",
	"retention.keep_last":       "How many committed installs per package or archive prefix keep their before-states (1..1000): rolling back further than that is refused. 0 is refused: the newest before-state is what undoes a bad update.",
	"retention.max_bytes":       "Bytes all kept files may take (2147483648 = 2 GiB); past it the oldest are pruned first, failed installs before committed ones. The newest install's before-state, and any a rollback would use now, stay regardless. 0: no bound by bytes.",

	"log":                                "Where the daemon's log lines go: stderr, through log/slog (the journal under systemd).",
	"log.format":                         `"text" (key=value lines) or "json" (one object per line, for log shippers).`,
	"log.level":                          "The least severe level logged: debug, info, warn or error. Bootstrap failures and admission refusals are warn.",
	"metrics":                            "Prometheus metrics (patchnet_*): off unless listen is set.",
	"metrics.listen":                     `host:port of the metrics endpoint, e.g. "127.0.0.1:9464"; "" is off. Loopback only unless allow_remote.`,
	"metrics.allow_remote":               "Allow a non-loopback metrics address. Off by default: the metrics say which updates this host installed.",
	"report":                             "Opt-in install reports: an agent signs what it installed (or failed or refused to) and sends it to the supernodes it is connected to, directly, never by gossip.",
	"report.enabled":                     "Send a signed report of each install outcome (update id, version, digest, installed/failed/refused with one reason word, time; never the inventory or error text) to the connected supernodes (else the update's co-signers), which show them in `patchnet status`; a report no supernode took is kept and sent again, for a week at most. Off by default for privacy: an agent that does not opt in discloses nothing beyond taking part in gossip.",
	"heartbeat":                          "The zone's heartbeat policy; every node of a zone should use the same.",
	"heartbeat.interval":                 "How often a supernode signs and sends its heartbeat (time, sequence, digest of the set it co-signed), and how often an agent checks the ones it received.",
	"heartbeat.max_age":                  "How old the k-th freshest supernode heartbeat may be before an agent reports heartbeat-stale (cut off, or the zone frozen) and catches up from several peers; at least interval.",
	"cosign":                             "What a supernode requires before it co-signs an update of a publisher.",
	"cosign.publishers":                  `Per publisher of the zone, by peer ID (its certificate's CN), or "*" for any publisher without an entry of its own: the vendor origins its artifacts must be fetched from and the vendor keys that must sign them. A supernode fetches each artifact from those origins itself, never from peers or the publisher, and co-signs nothing of a publisher without an entry, so a stolen publisher key alone gets no co-signature. Default: none.`,
	"cosign.publishers.*.origins":        `Vendor URL prefixes the artifact must be fetched from, such as "https://deb.example.org/pool/": scheme, host and port must match and the path lie under the prefix's. Required in an entry.`,
	"cosign.publishers.*.keys":           "The vendor's OpenPGP public key files (armored or binary) that must sign the artifact: a detached .asc/.sig beside its URL, or the rpm's own signature. Required in an entry unless allow_unsigned is true.",
	"cosign.publishers.*.allow_unsigned": "Accept an artifact that carries no vendor signature (a vendor that does not sign). Default false: no verifiable signature, no co-signature; a signature that does not verify is refused whatever this says.",

	"overlay":                                 "The libp2p side: listen addresses, bootstrap peers, DHT, gossip and their bounds.",
	"overlay.zone":                            "Taken from the top-level zone; a value here is ignored. Default: the top-level zone.",
	"overlay.listen_addrs":                    "Multiaddrs to listen on. A private zone (a pre-shared key) runs over TCP only: QUIC cannot use the key.",
	"overlay.announce_addrs":                  "When set, replace the listen addresses this node tells peers about (behind NAT or a load balancer). Default: none.",
	"overlay.bootstrap_peers":                 "Full multiaddrs ending in /p2p/<peer ID>, dialled at start and whenever this node has too few connections; the zone's first node needs none. Default: none.",
	"overlay.private_zone":                    "A private zone: only nodes holding its pre-shared key can connect, and every peer must authenticate with a certificate of the zone.",
	"overlay.private_zone.psk_file":           `A libp2p pnet key file ("/key/swarm/psk/1.0.0/", "/base16/", 64 hex digits), as go-ipfs' swarm.key; the same file on every node of the zone. ` + "`patchnet init --private`" + ` writes a fresh one. Default: none (a public zone).`,
	"overlay.dht":                             "The Kademlia DHT that finds peers holding artifacts.",
	"overlay.dht.mode":                        `"server" answers queries (needed in a closed network, where auto mode leaves routing tables empty), "client" only asks, "off" turns the DHT off.`,
	"overlay.dht.protocol_prefix":             `Keeps the zone's DHT apart from every other DHT. Default: "" (meaning "/patchnet/<zone>").`,
	"overlay.collectives":                     "Collective topics this node joins. Default: none.",
	"overlay.supernode":                       "Set from the node's certificate: supernodes and publishers flood-publish to every peer of a topic, agents use the mesh; a value here is ignored. Default: false.",
	"overlay.gossip":                          "Bounds of gossip messages and of the validation pipeline.",
	"overlay.gossip.max_message_bytes":        fmt.Sprintf("Caps one gossip message (one signed envelope); at most %d.", overlay.MaxMessageBytesLimit),
	"overlay.gossip.validate_queue_size":      "The validation queue; a full queue drops messages.",
	"overlay.gossip.validate_workers":         "Goroutines checking signatures; 0 means one per CPU.",
	"overlay.gossip.validate_concurrency":     "Caps the node's validator calls in flight.",
	"overlay.gossip.peer_outbound_queue_size": "Queue of messages to one peer.",
	"overlay.gossip.subscription_buffer":      "Delivered messages the node has not read yet.",
	"overlay.gossip.seen_messages_ttl":        "How long message IDs are remembered, so a message is delivered once.",
	"overlay.score":                           "Peer scoring: how fast a peer delivering messages the validator rejects is cut off.",
	"overlay.score.invalid_message_weight":    "Multiplies the square of a peer's rejected messages per topic (one → -10, three → -90: graylisted).",
	"overlay.score.gossip_threshold":          "Below this score a peer gets and gives no gossip.",
	"overlay.score.publish_threshold":         "Below this score this node does not publish to a peer.",
	"overlay.score.graylist_threshold":        "Below this score a peer's RPCs are ignored, and at the next score snapshot it is disconnected and kept out for 10 minutes.",
	"overlay.score.inspect_interval":          "How often peer scores are snapshotted (shown by `patchnet status`): the longest a graylisted peer stays connected (100ms to 1m).",
	"overlay.auth_deadline":                   fmt.Sprintf("How long a new peer has to present its certificate chain; at most %s.", shortDuration(overlay.MaxAuthDeadline)),
	"overlay.sync":                            "Catch-up after start-up and isolation.",
	"overlay.sync.peers":                      "How many distinct peers to catch up from after start-up or isolation (1 to 16).",
	"overlay.sync.max_items":                  "Items per catch-up request.",
	"overlay.sync.max_bytes":                  "Bytes per catch-up request; peers answer at most 8 MiB whatever is asked, more takes more rounds.",
	"overlay.sync.interval":                   fmt.Sprintf("How often a node also catches up from one connected peer while all seems well (gossip loses what was published before a node's mesh formed); jittered by ±25%%; 0 turns it off, else %s to %s.", shortDuration(overlay.MinSyncInterval), shortDuration(overlay.MaxSyncInterval)),
	"overlay.resources":                       "Sizes of libp2p's resource manager and connection manager.",
	"overlay.resources.max_memory":            "Bytes libp2p may reserve.",
	"overlay.resources.max_file_descriptors":  "File descriptors libp2p may use: at least the connections conn_high allows (2.5 x conn_high; each TCP connection takes one).",
	"overlay.resources.conn_low":              "The connection manager's low water mark: trimming stops here.",
	"overlay.resources.conn_high":             "The connection manager's high water mark: trimming starts above it.",
	"overlay.bootstrap_interval":              "How often bootstrap peers are redialled while this node has too few connections (1s to 1h).",

	"content":                         "Artifact transfer between peers.",
	"content.provide":                 "Announce fetched artifacts in the DHT and serve them to peers, so the vendor's egress stays flat as the zone grows; false opts out.",
	"content.provider_search_timeout": "Bounds the DHT search for peers holding an artifact before the vendor URLs are tried.",
	"content.max_providers":           "How many peers one fetch pulls from at once.",
	"content.reprovide_interval":      "How often held artifacts are announced in the DHT again; it must stay below the DHT's 48h record life.",
	"content.provide_spread":          "An artifact the supernodes served this node without help (or that the DHT already named 20 holders of) is first announced in the DHT at a random point within this, so a zone's agents finishing together do not all walk the DHT at once; at that point it asks the DHT first and, if 20 holders are named already, waits for a random point within reprovide_interval instead; 0: at once.",
	"content.streams_per_provider":    "Requests a fetch keeps in flight to each peer.",
	"content.serve_streams_per_peer":  "Bounds one peer's concurrent requests to this node; at least an honest peer's streams_per_provider.",
	"content.seed_serve_copies":       "Publishers only: whole copies of an artifact it published that it serves before answering busy, so fetchers share it and the vendor side serves about one copy; 0 lifts the budget. Supernodes and agents serve without a budget.",

	"respond":                     "What an agent does with an update that matches its host, per category and zone: apply (install, within maintenance windows), notify (tell people, install nothing) or log.",
	"respond.default":             "The mode of a category not listed in categories.",
	"respond.categories":          "Mode per category: security, bugfix, enhancement, announcement.",
	"respond.zones":               "Per zone of the announcement, a default and categories overriding those above. Default: none.",
	"respond.zones.*.default":     "The zone's mode for categories it does not list. Default: the top-level modes.",
	"respond.zones.*.categories":  "The zone's mode per category. Default: the top-level modes.",
	"respond.maintenance_windows": `When "apply" may install: "DAYS HH:MM-HH:MM", DAYS one of Mon..Sun, a range "Mon-Fri", a list "Sat,Sun" or "daily"; an end before the start crosses midnight. A reboot-needed update is reported, never rebooted. Default: none (any time).`,
	"respond.time_zone":           `The IANA time zone the windows are written in ("UTC", "Local", "Europe/Berlin").`,

	"notify":                  "Channels that tell people about updates in notify mode, alerts (equivocation, tampered installers), alarms and their end (heartbeats stale or disagreeing, bootstrap failing: one notice per episode) and outcomes (installed, failed, rolled back, CRL applied). Default: none.",
	"notify.smtp":             "Email, one message per notification. Keys left out take the defaults shown; to is required.",
	"notify.smtp.addr":        "host:port of the mail server. Default: localhost:587.",
	"notify.smtp.from":        "Envelope and header sender. Default: patchnet@localhost.",
	"notify.smtp.to":          fmt.Sprintf("Recipients, 1 to %d. Required in [notify.smtp].", updates.MaxRecipients),
	"notify.smtp.security":    `"starttls", "tls" or "none" (plaintext, and then no password except to loopback). Default: "starttls".`,
	"notify.smtp.username":    `With password, enables AUTH PLAIN. Default: "" (no AUTH).`,
	"notify.smtp.password":    `The AUTH PLAIN password; keep this file unreadable to others once it is set. Default: "".`,
	"notify.smtp.timeout":     fmt.Sprintf("Bounds one whole SMTP session. Default: %s.", shortDuration(updates.DefaultNotifyTimeout)),
	"notify.webhook":          "A POST of JSON per notification. Keys left out take the defaults shown; url is required.",
	"notify.webhook.url":      "Receives the POST. Required in [notify.webhook].",
	"notify.webhook.headers":  "Headers added to each request (e.g. Authorization). Default: none.",
	"notify.webhook.secret":   `When set, header X-Patchnet-Signature is "sha256=" + hex HMAC-SHA256(secret, body). Default: "" (unsigned).`,
	"notify.webhook.attempts": fmt.Sprintf("How many times a failed delivery is tried in all, 1 to %d. Default: %d.", updates.MaxWebhookAttempts, updates.DefaultWebhookConfig().Attempts),
	"notify.webhook.backoff":  fmt.Sprintf("The wait after the first failure; it doubles after each further one, up to %s. Default: %s.", shortDuration(updates.MaxWebhookBackoff), shortDuration(time.Duration(updates.DefaultWebhookConfig().Backoff))),
	"notify.webhook.timeout":  fmt.Sprintf("Bounds one request. Default: %s.", shortDuration(updates.DefaultNotifyTimeout)),
}

// configExamples are written, commented out, where the config has nothing
// of its own: optional tables, maps of tables and maps left empty. Each
// value has the type of the key it illustrates.
var configExamples = map[string]any{
	"install.tool_pins": map[string]string{"/usr/bin/dpkg": "<sha256 of /usr/bin/dpkg>"},
	"install.prefixes":  map[string]string{"myapp": "/opt/myapp"},
	"cosign.publishers": map[string]origin.Policy{"*": {
		Origins: []string{"https://deb.example.org/pool/"}, Keys: []string{"/etc/patchnet/vendor/example.asc"},
	}},
	"respond.zones": map[string]updates.ZoneRespond{"partner-zone": {
		Default: updates.ModeLog, Categories: map[updates.Category]updates.Mode{updates.CategorySecurity: updates.ModeNotify},
	}},
	"notify.smtp": func() *updates.SMTPConfig {
		c := updates.DefaultSMTPConfig()
		c.To = []string{"ops@example.org"}
		return &c
	}(),
	"notify.webhook": func() *updates.WebhookConfig {
		c := updates.DefaultWebhookConfig()
		c.URL = "https://hooks.example.org/patchnet"
		c.Headers = map[string]string{"Authorization": "Bearer <token>"}
		return &c
	}(),
	"notify.webhook.headers":      map[string]string{"Authorization": "Bearer <token>"},
	"overlay.announce_addrs":      []string{"/ip4/203.0.113.7/tcp/4001"},
	"overlay.bootstrap_peers":     []string{"/dns4/sn1.example.org/tcp/4001/p2p/12D3KooW..."},
	"overlay.collectives":         []string{"web-servers"},
	"roots":                       []string{"/etc/patchnet/root.crt"},
	"crl":                         []string{"/etc/patchnet/zone.crl", "/etc/patchnet/root.crl"},
	"respond.maintenance_windows": []string{"Mon-Fri 22:00-23:30", "Sat,Sun 02:00-06:00"},
}

// roleNotes are said, per role, above a key or table that works
// differently for it.
var roleNotes = map[trust.Role]map[string]string{
	trust.RoleAgent: {
		"cosign": "Supernodes only: an agent co-signs nothing, so the table is commented out.",
	},
	trust.RoleSupernode: {
		"install":           "Agents only: a supernode installs nothing, so the table is commented out.",
		"retention":         "Agents only: a supernode keeps no install journal, so the table is commented out.",
		"report":            "Agents only: a supernode sends no install reports (it receives them), so the table is commented out.",
		"cosign.publishers": "`patchnet init supernode --vendor-origin URL --vendor-key FILE` fills the \"*\" entry; without them it is a commented-out example, and this supernode co-signs nothing until an entry is filled in.",
	},
}
