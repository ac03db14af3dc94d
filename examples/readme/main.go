package main

import (
	"context"
	"fmt"
	"log"

	"github.com/winrepart/winrepart"
	"github.com/winrepart/winrepart/planner"
	"github.com/winrepart/winrepart/recovery"
)

func main() {
	ctx := context.Background()
	dev, err := winrepart.OpenImage("disk.img", winrepart.OpenOptions{Writable: true})
	if err != nil {
		log.Fatal(err)
	}
	defer dev.Close()
	layout, err := recovery.Inspect(ctx, dev, recovery.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(layout) // the same text as `winrefix inspect`
	// The relocator lets the plan move data out of C:'s tail when C: must shrink.
	plan := planner.New(layout, planner.Options{Relocator: winrepart.NewRelocator(dev, layout)})
	fmt.Print(plan) // the dry run; plan.Refused and plan.Reasons say why not
	if plan.Refused {
		return
	}
	res, err := winrepart.Apply(ctx, dev, plan, winrepart.ApplyOptions{JournalPath: "disk.img.journal"})
	if err != nil {
		log.Fatal(err) // winrepart.Recover(ctx, dev, "disk.img.journal", winrepart.RecoverOptions{})
	}
	fmt.Println("WinRE meets KB5034441:", res.After.WinRE.MeetsKB5034441)
}
