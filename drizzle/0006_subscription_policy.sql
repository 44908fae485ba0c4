ALTER TABLE `subscriptions` ADD `thread_id` text;--> statement-breakpoint
ALTER TABLE `subscriptions` ADD `policy` text DEFAULT 'all' NOT NULL;--> statement-breakpoint
ALTER TABLE `subscriptions` ADD `muted_until` integer;