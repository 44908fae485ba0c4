CREATE TABLE `chat_identities` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`platform` text NOT NULL,
	`external_id` text NOT NULL,
	`display_name` text NOT NULL,
	`user_id` integer NOT NULL,
	`linked_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `chat_identities_platform_external_unique` ON `chat_identities` (`platform`,`external_id`);--> statement-breakpoint
CREATE INDEX `chat_identities_user_idx` ON `chat_identities` (`user_id`);--> statement-breakpoint
CREATE TABLE `pairing_codes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`code` text NOT NULL,
	`platform` text NOT NULL,
	`external_id` text NOT NULL,
	`display_name` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `pairing_codes_code_unique` ON `pairing_codes` (`code`);--> statement-breakpoint
CREATE INDEX `pairing_codes_identity_idx` ON `pairing_codes` (`platform`,`external_id`,`created_at`);