package success

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// MetaEventSum keeps a verified upload's event as it was first reported,
// without the words themselves: the unpadded base64url SHA-256 of the
// JSON {"name":…,"uuid":…,"params":{…}} of the first success request. A
// repeat is answered and its event stored again only when it reports the
// same fields, so every stored event carries the first report's. The
// fields are not written whole: the page's uploadSuccess.params never went
// to storage, and a blob's metadata is read by anyone who may read the blob
// (a thumbnail's read SAS included).
const MetaEventSum = "blobvalet_event_sum"

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

// StampedBy reports whether md, a final blob's metadata, carries the
// owner stamp of user: only blobvalet writes final names, so it is proof
// that user uploaded the blob.
func StampedBy(md map[string]string, user string) bool {
	return user != "" && meta(md, MetaOwner) == EncodeOwner(user)
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
// with, the checksum of the first report's fields.
func stampEventFields(md map[string]string, f eventFields) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	md[MetaEventSum] = base64.RawURLEncoding.EncodeToString(sum[:])
	return nil
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
