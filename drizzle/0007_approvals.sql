CREATE TABLE `approvals` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` integer NOT NULL,
	`bot_id` integer NOT NULL,
	`status` text NOT NULL,
	`draft` text NOT NULL,
	`held_results` text DEFAULT '[]' NOT NULL,
	`answer_is_result` integer DEFAULT true NOT NULL,
	`final_text` text,
	`edited` integer DEFAULT false NOT NULL,
	`reason` text,
	`decided_by` text,
	`decided_at` integer,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`bot_id`) REFERENCES `bots`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `approvals_run_unique` ON `approvals` (`run_id`);--> statement-breakpoint
CREATE INDEX `approvals_status_idx` ON `approvals` (`status`,`expires_at`);--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_triggers` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`source_bot_id` integer NOT NULL,
	`event` text NOT NULL,
	`target_bot_id` integer,
	`target_action` text DEFAULT 'start' NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`source_bot_id`) REFERENCES `bots`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`target_bot_id`) REFERENCES `bots`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
INSERT INTO `__new_triggers`("id", "source_bot_id", "event", "target_bot_id", "target_action", "enabled", "created_at") SELECT "id", "source_bot_id", "event", "target_bot_id", "target_action", "enabled", "created_at" FROM `triggers`;--> statement-breakpoint
DROP TABLE `triggers`;--> statement-breakpoint
ALTER TABLE `__new_triggers` RENAME TO `triggers`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `triggers_source_idx` ON `triggers` (`source_bot_id`);--> statement-breakpoint
ALTER TABLE `bots` ADD `requires_approval` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `bots` ADD `approval_timeout_s` integer DEFAULT 86400 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `requires_approval` integer DEFAULT false NOT NULL;