package success

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Metadata keys that keep a verified upload's event as it was first
// reported, so that a repeated success request re-sends that event and
// not the repeat's own words. Only one of them is set on a blob whose rule
// tells a webhook.
const (
	// MetaEventFields holds the event's name, uuid and params: unpadded
	// base64url of the JSON {"name":…,"uuid":…,"params":{…}}.
	MetaEventFields = "blobvalet_event_fields"
	// MetaEventSum holds, where the fields do not fit in the blob's
	// metadata, the unpadded base64url SHA-256 of that JSON: a repeat must
	// then report the same fields.
	MetaEventSum = "blobvalet_event_sum"
)

// MaxMetadataSize is the most metadata Azure keeps on a blob: 8 KiB of
// names and values together.
const MaxMetadataSize = 8 << 10

// ownerPrefix marks an owner stamp that holds the user id in unpadded
// base64url of its UTF-8 bytes.
const ownerPrefix = "base64url:"

// EncodeOwner returns how a user id is written in the blobvalet_owner
// stamp. Azure keeps only printable ASCII in metadata, and trims spaces at
// either end, so an id that is printable ASCII without space at either end
// is written as it is (as every release did), and any other id, or one
// that begins with "base64url:", as "base64url:" and the unpadded base64url
// of its bytes. Ids are never normalised: two ids that differ in their
// bytes (NFC and NFD forms of one name, say) are two owners. The mapping is
// one to one, so checks compare encoded forms.
func EncodeOwner(id string) string {
	plain := id != "" && !strings.HasPrefix(id, ownerPrefix) && id[0] != ' ' && id[len(id)-1] != ' '
	for i := 0; plain && i < len(id); i++ {
		plain = id[i] >= 0x20 && id[i] <= 0x7e
	}
	if plain {
		return id
	}
	return ownerPrefix + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// DecodeOwner reads a blobvalet_owner stamp back into the user id.
func DecodeOwner(stamp string) (string, error) {
	enc, ok := strings.CutPrefix(stamp, ownerPrefix)
	if !ok {
		return stamp, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", fmt.Errorf("owner stamp is not base64url: %w", err)
	}
	return string(b), nil
}

// eventFields are what the caller of the first success request said about
// the upload: Fine Uploader's file name and id, and the params.
type eventFields struct {
	Name   string            `json:"name"`
	UUID   string            `json:"uuid"`
	Params map[string]string `json:"params"`
}

func requestFields(req Request) eventFields {
	p := req.Params
	if p == nil {
		p = map[string]string{}
	}
	return eventFields{Name: req.Name, UUID: req.UUID, Params: p}
}

// stampEventFields adds to md, the metadata a verified blob is committed
// with, the first report's fields: whole where they fit in Azure's 8 KiB
// with the rest, else their checksum.
func stampEventFields(md map[string]string, f eventFields) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	v := base64.RawURLEncoding.EncodeToString(b)
	if metadataSize(md)+len(MetaEventFields)+len(v) <= MaxMetadataSize {
		md[MetaEventFields] = v
		return nil
	}
	sum := sha256.Sum256(b)
	md[MetaEventSum] = base64.RawURLEncoding.EncodeToString(sum[:])
	return nil
}

// decodeEventFields reads a MetaEventFields stamp.
func decodeEventFields(v string) (eventFields, error) {
	var f eventFields
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return f, fmt.Errorf("event fields stamp is not base64url: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("event fields stamp is not the fields' JSON: %w", err)
	}
	if f.Params == nil {
		f.Params = map[string]string{}
	}
	return f, nil
}

// sameFields tells whether f are the fields whose checksum sum stamps.
func sameFields(f eventFields, sum string) bool {
	b, err := json.Marshal(f)
	if err != nil {
		return false
	}
	got := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(got[:]) == sum
}

// metadataSize counts metadata as Azure does: names and values.
func metadataSize(md map[string]string) int {
	n := 0
	for k, v := range md {
		n += len(k) + len(v)
	}
	return n
}
