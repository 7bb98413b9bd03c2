// Command mkcontainer creates containers in the Azurite emulator, for the
// load-test script: mkcontainer ENDPOINT NAME...
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/blobvalet/blobvalet/azurite"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: mkcontainer ENDPOINT NAME...")
		os.Exit(2)
	}
	cred, err := azblob.NewSharedKeyCredential(azurite.WellKnownAccount, azurite.WellKnownKey)
	if err == nil {
		var c *service.Client
		c, err = service.NewClientWithSharedKeyCredential(os.Args[1]+"/", cred, nil)
		for _, name := range os.Args[2:] {
			if err != nil {
				break
			}
			if _, err = c.CreateContainer(context.Background(), name, nil); bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
				err = nil
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkcontainer:", err)
		os.Exit(1)
	}
}
